-- Running totals of the projection, kept by triggers in the same transaction as the rows they
-- count, so that headquarters answers reports and reconciliation over millions of sales by
-- reading a few thousand rows. Derived from the projection tables, as they are from the
-- ledger: `rebuild` recomputes it from them.
--
-- One row per (dim, scope, key). Dimensions and what their columns hold:
--   product, county (line-level): sales_fen, qty = live lines; sales_n = live sales with
--       such a line; refunds_fen, refunds_qty = refund lines against such lines;
--       label = the greatest name; detail (product) = the quantity's unit, 'g' if weighed.
--   unit, team, seller, hour, stall (sale-level): sales_fen, sales_n = live sales;
--       refunds_fen = refunds of the key's sales; label = the greatest name (NULL where the
--       name is not kept: hour, stall); detail (seller) = the greatest team.
--   payment (key: method): sales_fen, sales_n = live payments; refunds_fen, refunds_n =
--       refunds paid back by the method.
--   device: sales_fen, sales_n = live sales; refunds_fen = refunds of its sales; held, low,
--       high = count, lowest and highest number of its sales held (voided ones too);
--       label = its stall.
--   corrections (scope: stall, key: seller): voids_n, voided_fen = voided sales;
--       refunds_n, refunds_fen = refunds of the seller's sales at the stall; label, detail =
--       the greatest name and team.
--   shift (key: shift id): sales_fen = cash paid in its sales; voided_fen = cash of the
--       sales voided in it; refunds_fen = cash refunded in it.
--
-- Live: a sale without a void. Every pair of rows that meet (a sale and its void, a sale
-- line and a refund line against it) is counted by whichever of the two arrives second, so
-- the totals do not depend on the order records are projected in. A sale is counted by
-- `Batch::count_sale` (in Rust, once per batch of records: thousands of sales make a few
-- dozen row updates), voids and refunds by the triggers below, which find the sale's rows
-- in the tables; both only add, so they may run in either order within the transaction. A
-- refund's lines are inserted after the refund, in one transaction (`apply`).

CREATE TABLE IF NOT EXISTS rollup (
    dim         TEXT NOT NULL,
    scope       TEXT NOT NULL,
    key         TEXT NOT NULL,
    label       TEXT,
    detail      TEXT,
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
) {clustered};

-- A sale's key in each sale-level dimension (as `Batch::count_sale` makes them). Looked up by
-- `sale_id`, which SQLite pushes into each arm (an index search each, not a scan).
CREATE VIEW IF NOT EXISTS rollup_sale_keys AS
    SELECT id AS sale_id, total_fen, 'unit' AS dim, COALESCE(unit_tax_id, 'individual') AS key
    FROM sales
    UNION ALL SELECT id, total_fen, 'team', team FROM sales
    UNION ALL SELECT id, total_fen, 'seller', seller FROM sales
    UNION ALL SELECT id, total_fen, 'hour', SUBSTR(at, 1, 13) FROM sales
    UNION ALL SELECT id, total_fen, 'stall', stall FROM sales
    UNION ALL SELECT id, total_fen, 'device', device FROM sales;

CREATE TRIGGER IF NOT EXISTS rollup_void AFTER INSERT ON voids BEGIN
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
END;

CREATE TRIGGER IF NOT EXISTS rollup_refund AFTER INSERT ON refunds BEGIN
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
END;

CREATE TRIGGER IF NOT EXISTS rollup_refund_line AFTER INSERT ON refund_lines BEGIN
    INSERT INTO rollup(dim, scope, key, refunds_fen, refunds_qty)
    SELECT d.dim, '', CASE d.dim WHEN 'product' THEN l.sku ELSE l.county_code END,
           NEW.amount_fen, NEW.qty
    FROM refunds r JOIN sale_lines l ON l.sale_id = r.sale_id AND l.line = NEW.line,
         (SELECT 'product' AS dim UNION ALL SELECT 'county') d
    WHERE r.id = NEW.refund_id AND EXISTS (SELECT 1 FROM sales WHERE id = r.sale_id) {upsert};
END;
