-- Projection of ledger records into SQL: the same tables at a till (its own records) and at
-- headquarters (every till's). Derived entirely from the ledger documents; a rebuild deletes
-- these rows and applies every record again. Plain SQL that PostgreSQL also takes, but for
-- the {clustered} marker: SQLite's WITHOUT ROWID, which stores a table in its primary key's
-- b-tree so that a sale touches one b-tree per table, not two.
--
-- Keys are what the till makes contiguous: (device, seq). Ids (UUIDs) are not indexed here,
-- because every index is one more page written inside each sale's fsync; look-ups by id are
-- rare (a scanned receipt) and headquarters adds its own indexes.

CREATE TABLE IF NOT EXISTS records (
    device  TEXT NOT NULL,
    seq     BIGINT NOT NULL,
    id      TEXT NOT NULL,
    kind    TEXT NOT NULL,
    at      TEXT NOT NULL,
    doc_key TEXT NOT NULL,
    PRIMARY KEY (device, seq)
) {clustered};

CREATE TABLE IF NOT EXISTS shifts (
    id            TEXT PRIMARY KEY,
    device        TEXT NOT NULL,
    seller        TEXT NOT NULL,
    opened_at     TEXT NOT NULL,
    float_fen     BIGINT NOT NULL,
    closed_at     TEXT,
    expected_fen  BIGINT,
    counted_fen   BIGINT,
    variance_fen  BIGINT,
    last_sale     TEXT,
    last_sale_seq BIGINT
);

CREATE TABLE IF NOT EXISTS cash_moves (
    id         TEXT PRIMARY KEY,
    device     TEXT NOT NULL,
    shift_id   TEXT NOT NULL,
    at         TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    reason     TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS sales (
    device      TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    id          TEXT NOT NULL,
    record_seq  BIGINT NOT NULL,
    number      TEXT NOT NULL,
    shift_id    TEXT NOT NULL,
    at          TEXT NOT NULL,
    stall       TEXT NOT NULL,
    seller      TEXT NOT NULL,
    seller_name TEXT NOT NULL,
    team        TEXT NOT NULL,
    unit_tax_id TEXT,
    unit_name   TEXT,
    total_fen   BIGINT NOT NULL,
    change_fen  BIGINT NOT NULL,
    PRIMARY KEY (device, seq)
) {clustered};

CREATE TABLE IF NOT EXISTS sale_lines (
    sale_id        TEXT NOT NULL,
    line           INTEGER NOT NULL,
    sku            TEXT NOT NULL,
    name_zh        TEXT NOT NULL,
    name_en        TEXT NOT NULL,
    category       TEXT NOT NULL,
    unit           TEXT NOT NULL,
    weighed        INTEGER NOT NULL,
    qty            BIGINT NOT NULL,
    unit_price_fen BIGINT NOT NULL,
    amount_fen     BIGINT NOT NULL,
    county_code    TEXT NOT NULL,
    county_name    TEXT NOT NULL,
    product_stall  TEXT NOT NULL,
    supplier       TEXT NOT NULL,
    cert_no        TEXT,
    PRIMARY KEY (sale_id, line)
) {clustered};

CREATE TABLE IF NOT EXISTS sale_payments (
    sale_id      TEXT NOT NULL,
    idx          INTEGER NOT NULL,
    method       TEXT NOT NULL,
    amount_fen   BIGINT NOT NULL,
    tendered_fen BIGINT NOT NULL,
    PRIMARY KEY (sale_id, idx)
) {clustered};

-- A SKU a sale sold beyond the stock the till knew, with the sale's till, sequence and
-- number and the line's name beside it: reconciliation lists these without looking each sale
-- up among millions (a read from disk each, at a province's size). Empty in rows projected
-- before these columns until `schema::add_oversold_sales` fills them.
CREATE TABLE IF NOT EXISTS sale_oversold (
    sale_id TEXT NOT NULL,
    sku     TEXT NOT NULL,
    device  TEXT,
    seq     BIGINT,
    number  TEXT,
    name_zh TEXT,
    PRIMARY KEY (sale_id, sku)
);

-- The voids and refunds hold their sale's till, and a refund's lines the line sold, from when
-- the sale is projected (before it, NULL): what does not square with the sale is then found
-- among these small tables alone (headquarters' doubtful voids and refunds).
CREATE TABLE IF NOT EXISTS voids (
    id          TEXT PRIMARY KEY,
    device      TEXT NOT NULL,
    sale_id     TEXT NOT NULL UNIQUE,
    shift_id    TEXT NOT NULL,
    at          TEXT NOT NULL,
    reason      TEXT NOT NULL,
    sale_device TEXT
);

CREATE TABLE IF NOT EXISTS refunds (
    id         TEXT PRIMARY KEY,
    device     TEXT NOT NULL,
    number     TEXT NOT NULL,
    sale_id    TEXT NOT NULL,
    shift_id   TEXT NOT NULL,
    at         TEXT NOT NULL,
    method     TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    sale_device TEXT
);
CREATE INDEX IF NOT EXISTS refunds_sale ON refunds (sale_id);

CREATE TABLE IF NOT EXISTS refund_lines (
    refund_id  TEXT NOT NULL,
    line       INTEGER NOT NULL,
    sku        TEXT NOT NULL,
    qty        BIGINT NOT NULL,
    amount_fen BIGINT NOT NULL,
    sold_sku   TEXT,
    sold_qty   BIGINT,
    sold_fen   BIGINT,
    PRIMARY KEY (refund_id, line)
);

-- Net quantity gone out per SKU (sold, minus voided, minus refunded): pieces or grams.
CREATE TABLE IF NOT EXISTS stock_out (
    sku TEXT PRIMARY KEY,
    qty BIGINT NOT NULL
) {clustered};
