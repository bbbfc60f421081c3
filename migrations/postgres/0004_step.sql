-- One vocabulary: the README, the labs and the pages say "step", and so does the schema now.
ALTER TABLE progress RENAME COLUMN phase TO step;
ALTER TABLE rule_snapshots RENAME COLUMN phase TO step;
