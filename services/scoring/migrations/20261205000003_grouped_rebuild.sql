-- Recompute sums a period's facts grouped by what they count alike: with
-- the grouping columns in the period's index, the year's facts are read from
-- the index alone, in group order, with no sort and no visit to the table.
DROP INDEX sc_facts_by_year;
DROP INDEX sc_facts_by_quarter;
DROP INDEX sc_facts_by_month;
CREATE INDEX sc_facts_by_year ON sc_facts (p_year, kind, jurisdiction_code, department_id, label, label2, flag, amount);
CREATE INDEX sc_facts_by_quarter ON sc_facts (p_quarter, kind, jurisdiction_code, department_id, label, label2, flag, amount);
CREATE INDEX sc_facts_by_month ON sc_facts (p_month, kind, jurisdiction_code, department_id, label, label2, flag, amount);
