-- Each case's acceptance number, so the facts behind an indicator name it.
ALTER TABLE sc_cases ADD COLUMN number TEXT NOT NULL DEFAULT '';
