//! Sales indexed by their id once at headquarters, and a headquarters from before.

use super::*;

/// The indexes on `sales`' id, by name.
fn id_indexes(conn: &Connection) -> Vec<String> {
    conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'sales'
         AND name LIKE 'sales_id%' ORDER BY name",
    )
    .unwrap()
    .query_map([], |r| r.get(0))
    .unwrap()
    .collect::<std::result::Result<_, _>>()
    .unwrap()
}

/// A sale row of `device` with `id`.
fn sale_row(conn: &Connection, device: &str, seq: i64, id: &str) {
    conn.execute(
        "INSERT INTO sales(device, seq, id, record_seq, number, shift_id, at, stall, seller,
                           seller_name, team, total_fen, change_fen)
         VALUES (?1, ?2, ?3, ?2, 'N', 's', '2026-11-22T10:00:00+08:00', 'S01', 'V', 'V', '', 0, 0)",
        params![device, seq, id],
    )
    .unwrap();
}

#[test]
fn a_headquarters_from_before_indexes_sale_ids_once_unless_one_is_held_twice() {
    let f = Fixture::new(&ActorId::random());
    assert_eq!(id_indexes(&f.hq.conn), ["sales_id_once"]);
    // As it was: a plain index, and an id two sales hold.
    f.hq.conn
        .execute_batch("DROP INDEX sales_id_once; CREATE INDEX sales_id ON sales (id)")
        .unwrap();
    sale_row(&f.hq.conn, "T01", 1, "copied");
    sale_row(&f.hq.conn, "T02", 1, "copied");
    let again = Hq::open(f.dir.path()).unwrap();
    assert_eq!(id_indexes(&again.conn), ["sales_id"]);
    drop(again);
    // Tried once: not at every open after (as PostgreSQL's migration runs once).
    f.hq.conn
        .execute("DELETE FROM sales WHERE device = 'T02'", [])
        .unwrap();
    let again = Hq::open(f.dir.path()).unwrap();
    assert_eq!(id_indexes(&again.conn), ["sales_id"]);
    drop(again);
    // Without the pair, the first open indexes them once.
    f.hq.conn
        .execute_batch("DELETE FROM meta WHERE key = 'sale_id_held_twice'")
        .unwrap();
    let again = Hq::open(f.dir.path()).unwrap();
    assert_eq!(id_indexes(&again.conn), ["sales_id_once"]);
}
