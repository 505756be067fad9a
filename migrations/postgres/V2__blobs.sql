-- Content-addressed blobs (documents, signed PDFs), by the hex SHA-256 of their bytes, as the
-- sled side keeps them in <data>/blobs/.
CREATE TABLE blobs (
    sha256  text  PRIMARY KEY,
    content bytea NOT NULL
);
