//! SQLite's SQL, shared with the projection crate, as PostgreSQL takes it.

/// The projection's SQL (`schema.sql`, `rollup.sql`) as PostgreSQL takes it: a plain heap for
/// SQLite's clustered tables (`{clustered}`), and text compared byte by byte (collation "C",
/// SQLite's BINARY), so that the greatest name of a report key and every ordering are the
/// same on both backends whatever the database's locale. A column's type is followed by a
/// space, a comma, a closing parenthesis or the end of its line.
pub(crate) fn postgres_text(sql: &str) -> String {
    sql.replace("{clustered}", "")
        .replace("\r\n", "\n")
        .replace(" TEXT ", " TEXT COLLATE \"C\" ")
        .replace(" TEXT,", " TEXT COLLATE \"C\",")
        .replace(" TEXT)", " TEXT COLLATE \"C\")")
        .replace(" TEXT\n", " TEXT COLLATE \"C\"\n")
}
