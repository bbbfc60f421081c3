-- The server's own id, made once: it goes into the Docker labels of every lab this server
-- creates, so its orphan sweep removes its own labs only (another `kplab serve` on the same
-- Docker host uses the same name prefix). One row.
CREATE TABLE server_identity (
    slot INTEGER PRIMARY KEY CHECK (slot = 1),
    server_id TEXT NOT NULL
);
