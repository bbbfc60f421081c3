-- kplab store, Postgres: learners, lab sessions, per-learner progress, task results, events.
CREATE TABLE learners (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    created_ms BIGINT NOT NULL
);
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    learner TEXT NOT NULL REFERENCES learners(id),
    lab TEXT NOT NULL,
    sandbox TEXT NOT NULL,
    status TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);
-- At most one live lab per learner and lab.
CREATE UNIQUE INDEX sessions_one_live ON sessions(learner, lab) WHERE status IN ('starting', 'running');
CREATE INDEX sessions_status ON sessions(status);
CREATE TABLE progress (
    learner TEXT NOT NULL REFERENCES learners(id),
    lab TEXT NOT NULL,
    phase BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (learner, lab)
);
CREATE TABLE results (
    id BIGSERIAL PRIMARY KEY,
    learner TEXT NOT NULL REFERENCES learners(id),
    lab TEXT NOT NULL,
    session TEXT NOT NULL,
    task TEXT NOT NULL,
    passed BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX results_learner_lab ON results(learner, lab, task);
CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    session TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
