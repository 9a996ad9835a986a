//! Messages a server sends, decoded in full.

mod authentication;
mod data_row;
mod error_response;
mod misc;
mod row_description;
mod status;

pub use authentication::Authentication;
pub use data_row::DataRow;
pub use error_response::Fields;
pub use misc::{CommandComplete, CopyResponse, Notification, ParameterDescription};
pub use row_description::{Field, RowDescription};
pub use status::{
    BackendKeyData, ParameterStatus, TxStatus, decode_ready, encode_negotiate,
    encode_parameter_status, encode_ready,
};

use super::{DecodeError, Frame};
use crate::wire::cursor::Cursor;
use bytes::Bytes;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendMessage {
    Authentication(Authentication),
    BackendKeyData(BackendKeyData),
    ParameterStatus(ParameterStatus),
    ReadyForQuery(TxStatus),
    RowDescription(RowDescription),
    DataRow(DataRow),
    CommandComplete(CommandComplete),
    EmptyQueryResponse,
    ErrorResponse(Fields),
    NoticeResponse(Fields),
    Notification(Notification),
    CopyInResponse(CopyResponse),
    CopyOutResponse(CopyResponse),
    CopyBothResponse(CopyResponse),
    CopyData(Bytes),
    CopyDone,
    ParseComplete,
    BindComplete,
    CloseComplete,
    NoData,
    PortalSuspended,
    ParameterDescription(ParameterDescription),
    FunctionCallResponse(Option<Bytes>),
    NegotiateProtocolVersion { minor: i32, options: Vec<String> },
}

fn empty(body: &[u8], message: &'static str) -> Result<(), DecodeError> {
    Cursor::new(body, message).finish()
}

impl BackendMessage {
    pub fn decode(frame: &Frame) -> Result<BackendMessage, DecodeError> {
        let body = frame.body();
        Ok(match frame.tag {
            b'R' => BackendMessage::Authentication(Authentication::decode(&body)?),
            b'K' => BackendMessage::BackendKeyData(BackendKeyData::decode(&body)?),
            b'S' => BackendMessage::ParameterStatus(ParameterStatus::decode(&body)?),
            b'Z' => BackendMessage::ReadyForQuery(decode_ready(&body)?),
            b'T' => BackendMessage::RowDescription(RowDescription::decode(&body)?),
            b'D' => BackendMessage::DataRow(DataRow::decode(&body)?),
            b'C' => BackendMessage::CommandComplete(CommandComplete::decode(&body)?),
            b'I' => {
                empty(&body, "EmptyQueryResponse")?;
                BackendMessage::EmptyQueryResponse
            }
            b'E' => BackendMessage::ErrorResponse(Fields::decode(&body, "ErrorResponse")?),
            b'N' => BackendMessage::NoticeResponse(Fields::decode(&body, "NoticeResponse")?),
            b'A' => BackendMessage::Notification(Notification::decode(&body)?),
            b'G' => BackendMessage::CopyInResponse(CopyResponse::decode(&body)?),
            b'H' => BackendMessage::CopyOutResponse(CopyResponse::decode(&body)?),
            b'W' => BackendMessage::CopyBothResponse(CopyResponse::decode(&body)?),
            b'd' => BackendMessage::CopyData(body),
            b'c' => {
                empty(&body, "CopyDone")?;
                BackendMessage::CopyDone
            }
            b'1' => {
                empty(&body, "ParseComplete")?;
                BackendMessage::ParseComplete
            }
            b'2' => {
                empty(&body, "BindComplete")?;
                BackendMessage::BindComplete
            }
            b'3' => {
                empty(&body, "CloseComplete")?;
                BackendMessage::CloseComplete
            }
            b'n' => {
                empty(&body, "NoData")?;
                BackendMessage::NoData
            }
            b's' => {
                empty(&body, "PortalSuspended")?;
                BackendMessage::PortalSuspended
            }
            b't' => BackendMessage::ParameterDescription(ParameterDescription::decode(&body)?),
            b'V' => {
                let mut c = Cursor::new(&body, "FunctionCallResponse");
                let v = c.value(&body)?;
                c.finish()?;
                BackendMessage::FunctionCallResponse(v)
            }
            b'v' => {
                let mut c = Cursor::new(&body, "NegotiateProtocolVersion");
                let minor = c.i32()?;
                let n = c.i32()?;
                let mut options = Vec::new();
                for _ in 0..n.max(0) {
                    options.push(String::from_utf8_lossy(c.cstr_bytes()?).into_owned());
                }
                c.finish()?;
                BackendMessage::NegotiateProtocolVersion { minor, options }
            }
            t => {
                return Err(DecodeError::UnknownTag {
                    side: "backend",
                    tag: char::from(t),
                });
            }
        })
    }
}
