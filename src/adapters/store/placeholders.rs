//! Bind-parameter placeholders for statements built at run time (multi-row INSERTs, `IN (…)`).
//!
//! PostgreSQL needs numbered `$N`. SQLite gets anonymous `?`: for every parameter sqlx asks SQLite
//! for its name, and SQLite finds a numbered parameter's name by a linear scan of the statement's
//! parameter list, so binding a statement with `$N` placeholders costs O(parameters²). With 640
//! parameters that scan was half of the SQLite writer thread's time during ingest
//! (BENCHMARKS.md, "Store: ingest and sampling"); anonymous parameters are not in that list.

use std::fmt::Write as _;

/// How a statement numbers its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholders {
    /// `$1, $2, …` (PostgreSQL).
    Numbered,
    /// `?, ?, …` in bind order (SQLite).
    Anonymous,
}

impl Placeholders {
    /// `count` placeholders separated by `, `, the first being parameter `from` (1-based).
    pub fn list(self, from: usize, count: usize) -> String {
        let mut sql = String::with_capacity(count * 5);
        self.push_list(&mut sql, from, count);
        sql
    }

    /// `(…), (…)`: `rows` groups of `columns` placeholders, numbered from 1.
    pub fn rows(self, rows: usize, columns: usize) -> String {
        let mut sql = String::with_capacity(rows * (columns * 5 + 4));
        for row in 0..rows {
            if row > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            self.push_list(&mut sql, row * columns + 1, columns);
            sql.push(')');
        }
        sql
    }

    fn push_list(self, sql: &mut String, from: usize, count: usize) {
        for index in from..from + count {
            if index > from {
                sql.push_str(", ");
            }
            match self {
                Placeholders::Numbered => {
                    // writing to a String cannot fail
                    let _ = write!(sql, "${index}");
                }
                Placeholders::Anonymous => sql.push('?'),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_placeholders_count_every_column_of_every_row() {
        assert_eq!(
            Placeholders::Numbered.rows(2, 3),
            "($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(Placeholders::Numbered.list(3, 2), "$3, $4");
    }

    #[test]
    fn anonymous_placeholders_keep_the_shape() {
        assert_eq!(Placeholders::Anonymous.rows(2, 2), "(?, ?), (?, ?)");
        assert_eq!(Placeholders::Anonymous.list(7, 3), "?, ?, ?");
        assert_eq!(Placeholders::Anonymous.list(1, 0), "");
    }
}
