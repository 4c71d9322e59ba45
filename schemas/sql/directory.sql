-- The directory's read side (services/directory.py): what the portal shows and searches of
-- the public buyers. Derived from the directory's events (table directory_events) and caught
-- up by DirectoryApp after each save and when it starts; can be dropped and rebuilt from them.
CREATE TABLE IF NOT EXISTS directory_structure (
    siret          text PRIMARY KEY,
    name           text NOT NULL,
    kind           text NOT NULL,
    active         boolean NOT NULL,
    service_code_required    boolean NOT NULL,
    order_reference_required boolean NOT NULL,
    service_code_or_order_reference_required boolean NOT NULL
);

CREATE TABLE IF NOT EXISTS directory_service (
    siret   text NOT NULL REFERENCES directory_structure ON DELETE CASCADE,
    code    text NOT NULL,
    name    text NOT NULL,
    active  boolean NOT NULL,
    PRIMARY KEY (siret, code)
);

-- The search: one row per word of each entry an invoice can be addressed to (an active
-- structure's active service, or the structure itself when it needs no service code). An
-- entry's words are its structure's name and SIRET, its service's code and name, without
-- accents, in lower case. A query word is a prefix of a term: an index range read.
CREATE TABLE IF NOT EXISTS directory_search_term (
    term          text NOT NULL,
    siret         text NOT NULL REFERENCES directory_structure ON DELETE CASCADE,
    service_code  text NOT NULL,  -- '': the structure itself, no particular service
    PRIMARY KEY (siret, service_code, term)
);
CREATE INDEX IF NOT EXISTS directory_search_term_prefix
    ON directory_search_term (term text_pattern_ops, siret, service_code);

-- How far in the directory's notification log the tables above are (one row).
CREATE TABLE IF NOT EXISTS directory_index_position (
    one              boolean PRIMARY KEY DEFAULT true CHECK (one),
    notification_id  bigint NOT NULL
);
