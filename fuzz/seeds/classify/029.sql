-- comment
INSERT INTO orders VALUES (9)