-- Headquarters' running totals in PostgreSQL: the table, the view and the triggers of
-- SQLite's roll-up (projection/src/rollup/rollup.sql, which says what each dimension's
-- columns hold), the triggers as PL/pgSQL functions. Sales are counted from Rust
-- (`fairpos_projection::rollup::Batch`, written by `rollup::flush`); voids, refunds and
-- refund lines by these triggers. Text compares byte by byte, as SQLite's does.

CREATE TABLE IF NOT EXISTS rollup (
    dim         TEXT COLLATE "C" NOT NULL,
    scope       TEXT COLLATE "C" NOT NULL,
    key         TEXT COLLATE "C" NOT NULL,
    label       TEXT COLLATE "C",
    detail      TEXT COLLATE "C",
    sales_fen   BIGINT NOT NULL DEFAULT 0,
    sales_n     BIGINT NOT NULL DEFAULT 0,
    qty         BIGINT NOT NULL DEFAULT 0,
    refunds_fen BIGINT NOT NULL DEFAULT 0,
    refunds_qty BIGINT NOT NULL DEFAULT 0,
    refunds_n   BIGINT NOT NULL DEFAULT 0,
    voids_n     BIGINT NOT NULL DEFAULT 0,
    voided_fen  BIGINT NOT NULL DEFAULT 0,
    held        BIGINT NOT NULL DEFAULT 0,
    low         BIGINT,
    high        BIGINT,
    PRIMARY KEY (dim, scope, key)
);

CREATE OR REPLACE VIEW rollup_sale_keys AS
    SELECT id AS sale_id, total_fen, 'unit' AS dim, COALESCE(unit_tax_id, 'individual') AS key
    FROM sales
    UNION ALL SELECT id, total_fen, 'team', team FROM sales
    UNION ALL SELECT id, total_fen, 'seller', seller FROM sales
    UNION ALL SELECT id, total_fen, 'hour', SUBSTR(at, 1, 13) FROM sales
    UNION ALL SELECT id, total_fen, 'stall', stall FROM sales
    UNION ALL SELECT id, total_fen, 'device', device FROM sales;

CREATE OR REPLACE FUNCTION rollup_void() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollup(dim, scope, key, sales_fen, sales_n)
    SELECT dim, '', key, -total_fen, -1 FROM rollup_sale_keys
    WHERE sale_id = NEW.sale_id {upsert};

    INSERT INTO rollup(dim, scope, key, voids_n, voided_fen)
    SELECT 'corrections', s.stall, s.seller, 1, s.total_fen FROM sales s
    WHERE s.id = NEW.sale_id {upsert};

    INSERT INTO rollup(dim, scope, key, sales_fen, sales_n, qty)
    SELECT 'product', '', sku, -SUM(amount_fen), -1, -SUM(qty) FROM sale_lines
    WHERE sale_id = NEW.sale_id GROUP BY sku {upsert};

    INSERT INTO rollup(dim, scope, key, sales_fen, sales_n, qty)
    SELECT 'county', '', county_code, -SUM(amount_fen), -1, -SUM(qty) FROM sale_lines
    WHERE sale_id = NEW.sale_id GROUP BY county_code {upsert};

    INSERT INTO rollup(dim, scope, key, sales_fen, sales_n)
    SELECT 'payment', '', method, -SUM(amount_fen), -COUNT(*) FROM sale_payments
    WHERE sale_id = NEW.sale_id GROUP BY method {upsert};

    INSERT INTO rollup(dim, scope, key, voided_fen)
    SELECT 'shift', '', NEW.shift_id, SUM(amount_fen) FROM sale_payments
    WHERE sale_id = NEW.sale_id AND method = 'cash' GROUP BY method {upsert};
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION rollup_refund() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollup(dim, scope, key, refunds_fen, refunds_n)
    VALUES ('payment', '', NEW.method, NEW.amount_fen, 1) {upsert};

    INSERT INTO rollup(dim, scope, key, refunds_fen)
    SELECT 'shift', '', NEW.shift_id, NEW.amount_fen WHERE NEW.method = 'cash' {upsert};

    INSERT INTO rollup(dim, scope, key, refunds_fen)
    SELECT dim, '', key, NEW.amount_fen FROM rollup_sale_keys
    WHERE sale_id = NEW.sale_id {upsert};

    INSERT INTO rollup(dim, scope, key, refunds_n, refunds_fen)
    SELECT 'corrections', s.stall, s.seller, 1, NEW.amount_fen FROM sales s
    WHERE s.id = NEW.sale_id {upsert};
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION rollup_refund_line() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollup(dim, scope, key, refunds_fen, refunds_qty)
    SELECT d.dim, '', CASE d.dim WHEN 'product' THEN l.sku ELSE l.county_code END,
           NEW.amount_fen, NEW.qty
    FROM refunds r JOIN sale_lines l ON l.sale_id = r.sale_id AND l.line = NEW.line,
         (SELECT 'product' AS dim UNION ALL SELECT 'county') d
    WHERE r.id = NEW.refund_id AND EXISTS (SELECT 1 FROM sales WHERE id = r.sale_id) {upsert};
    RETURN NULL;
END $$;

CREATE TRIGGER rollup_void AFTER INSERT ON voids
    FOR EACH ROW EXECUTE FUNCTION rollup_void();
CREATE TRIGGER rollup_refund AFTER INSERT ON refunds
    FOR EACH ROW EXECUTE FUNCTION rollup_refund();
CREATE TRIGGER rollup_refund_line AFTER INSERT ON refund_lines
    FOR EACH ROW EXECUTE FUNCTION rollup_refund_line();
