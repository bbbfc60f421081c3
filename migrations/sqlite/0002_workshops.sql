-- kplab store: classroom workshops (issue 8). A workshop has a join code, labs (a JSON array
-- of lab ids), a capacity (most learners), a warm pool size, a schedule, an open/ended state
-- and the instructor's pinned message. Members are learners who joined with the code; their
-- lab sessions, progress and results are the ordinary ones (tables of 0001).
CREATE TABLE workshops (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    labs TEXT NOT NULL,
    join_code TEXT NOT NULL UNIQUE,
    capacity BIGINT NOT NULL,
    warm_pool BIGINT NOT NULL,
    starts_ms BIGINT NOT NULL,
    ends_ms BIGINT NOT NULL,
    is_open BIGINT NOT NULL,
    is_ended BIGINT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    created_ms BIGINT NOT NULL
);
CREATE TABLE workshop_members (
    workshop TEXT NOT NULL REFERENCES workshops(id),
    learner TEXT NOT NULL REFERENCES learners(id),
    name TEXT NOT NULL,
    joined_ms BIGINT NOT NULL,
    hand_ms BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (workshop, learner)
);
CREATE INDEX workshop_members_learner ON workshop_members(learner, joined_ms);
