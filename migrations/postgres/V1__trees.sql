-- signbridge's trees (see src/store/trees.rs): every record is a key and a value in a named
-- tree; keys compare bytewise, as in sled, so scans return the same order on both backends.
CREATE TABLE kv (
    tree  text  NOT NULL,
    key   bytea NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (tree, key)
);
