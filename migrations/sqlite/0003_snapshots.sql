-- kplab store: rule snapshots of the "see the packets" panel (issue 7). One row per change of a
-- node's nat+filter rules seen during a session (and at each phase start): the iptables-save
-- text without counters, its hash, the phase and a label saying what changed.
CREATE TABLE rule_snapshots (
    id TEXT PRIMARY KEY,
    session TEXT NOT NULL REFERENCES sessions(id),
    node TEXT NOT NULL,
    seq BIGINT NOT NULL,
    phase BIGINT NOT NULL,
    label TEXT NOT NULL,
    hash TEXT NOT NULL,
    rules TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    UNIQUE (session, node, seq)
);
CREATE INDEX rule_snapshots_session ON rule_snapshots(session, created_ms);
