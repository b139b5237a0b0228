-- Where each enterprise is registered, as intake's log says (EnterpriseRegistered,
-- and the registration an appeal carries): the owner a butler's assignment is
-- checked against, never a jurisdiction the request names.
CREATE TABLE enterprises (
    uscc TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    jurisdiction_code TEXT NOT NULL,
    update_time BIGINT NOT NULL
);
