//! Signing tokens in bulk: a CSV of recipients in, the same CSV with a token
//! column out, for `opentime sign --csv` and files of millions of rows.
//!
//! Memory stays constant: one record and one token buffer are reused for
//! every row, and the `csv` crate buffers input and output. A row whose id is
//! missing or invalid stops the run with an error that names its line, since
//! a data engineer would rather fix the source than find empty tokens in an
//! email platform later.

use std::io::{Read, Write};

use csv::{ByteRecord, ReaderBuilder, WriterBuilder};

use super::{AccessError, KeyRing};
use crate::recipient::RecipientId;

impl KeyRing {
    /// Copies `input` (a CSV with a header row) to `output`, appending a
    /// column named `token_column` that holds the token of the id found in
    /// `id_column`. Returns the number of data rows written.
    ///
    /// Fields keep their content; quoting is rewritten where needed. A UTF-8
    /// byte order mark (as spreadsheets write) is dropped. Fails, naming the
    /// column or line, when `id_column` is absent, when `token_column` is
    /// already present, when an id is invalid, or when the CSV is malformed.
    /// Rows before a failure have already been written.
    pub fn sign_csv<R: Read, W: Write>(
        &self,
        input: R,
        output: W,
        id_column: &str,
        token_column: &str,
    ) -> Result<u64, AccessError> {
        let mut reader = ReaderBuilder::new().has_headers(true).from_reader(input);
        let mut writer = WriterBuilder::new().from_writer(output);

        let mut header = reader.byte_headers().map_err(csv_error)?.clone();
        let id_index = header
            .iter()
            .position(|name| name == id_column.as_bytes())
            .ok_or_else(|| AccessError::CsvMissingColumn(id_column.to_string()))?;
        if header.iter().any(|name| name == token_column.as_bytes()) {
            return Err(AccessError::CsvColumnExists(token_column.to_string()));
        }
        header.push_field(token_column.as_bytes());
        writer.write_byte_record(&header).map_err(csv_error)?;

        let mut record = ByteRecord::new();
        let mut token = String::new();
        let mut rows = 0u64;
        while reader.read_byte_record(&mut record).map_err(csv_error)? {
            let id = record
                .get(id_index)
                .and_then(|field| std::str::from_utf8(field).ok())
                .and_then(|text| RecipientId::new(text).ok())
                .ok_or_else(|| AccessError::CsvInvalidId {
                    line: record.position().map_or(0, |position| position.line()),
                    column: id_column.to_string(),
                })?;
            token.clear();
            self.write_token(&id, &mut token);
            record.push_field(token.as_bytes());
            writer.write_byte_record(&record).map_err(csv_error)?;
            rows += 1;
        }
        writer
            .flush()
            .map_err(|error| AccessError::Csv(format!("cannot write the CSV: {error}")))?;
        Ok(rows)
    }
}

/// Keeps the `csv` crate's message, which names the line and field but never
/// quotes field contents, and says so when the trouble was I/O, whose bare
/// message ("Broken pipe") would not mention the CSV at all.
fn csv_error(error: csv::Error) -> AccessError {
    match error.kind() {
        csv::ErrorKind::Io(io) => AccessError::Csv(format!("cannot read or write the CSV: {io}")),
        _ => AccessError::Csv(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> KeyRing {
        KeyRing::new(vec![b"server-secret-0123456789".to_vec()]).unwrap()
    }

    fn token_of(keys: &KeyRing, id: &str) -> String {
        keys.sign_recipient(&RecipientId::new(id).unwrap())
    }

    fn sign(
        input: &str,
        id_column: &str,
        token_column: &str,
    ) -> Result<(u64, String), AccessError> {
        let mut output = Vec::new();
        let rows = ring().sign_csv(input.as_bytes(), &mut output, id_column, token_column)?;
        Ok((rows, String::from_utf8(output).unwrap()))
    }

    #[test]
    fn a_token_column_is_appended_to_every_row() {
        let keys = ring();
        let input = "id,name,city\n\
                     alice,\"Smith, Alice\",\"Paris\"\n\
                     李小龍,\"say \"\"hi\"\"\nthere\",Zürich\n";
        let (rows, output) = sign(input, "id", "t").unwrap();
        assert_eq!(rows, 2);
        let expected = format!(
            "id,name,city,t\n\
             alice,\"Smith, Alice\",Paris,{}\n\
             李小龍,\"say \"\"hi\"\"\nthere\",Zürich,{}\n",
            token_of(&keys, "alice"),
            token_of(&keys, "李小龍"),
        );
        assert_eq!(output, expected);
    }

    #[test]
    fn written_tokens_verify_to_their_row_id() {
        let keys = ring();
        let (_, output) = sign("email_hash,id\nh1,crm-1\nh2,crm-2\n", "id", "token").unwrap();
        let mut reader = csv::Reader::from_reader(output.as_bytes());
        for record in reader.records() {
            let record = record.unwrap();
            assert_eq!(keys.verify_token(&record[2]).unwrap().as_str(), &record[1]);
        }
    }

    #[test]
    fn a_byte_order_mark_and_crlf_are_accepted() {
        let keys = ring();
        let (rows, output) = sign("\u{feff}id\r\nalice\r\n", "id", "t").unwrap();
        assert_eq!(rows, 1);
        assert_eq!(
            output,
            format!("id,t\nalice,{}\n", token_of(&keys, "alice"))
        );
    }

    #[test]
    fn an_invalid_id_is_reported_with_its_line() {
        // The multi-line field makes the line differ from the row number: the
        // line is what an editor shows.
        let input = "id,note\nalice,\"two\nlines\"\n,empty id\nbob,ok\n";
        assert_eq!(
            sign(input, "id", "t"),
            Err(AccessError::CsvInvalidId {
                line: 4,
                column: "id".into()
            })
        );
        let long = format!("id\nalice\n{}\n", "x".repeat(257));
        assert_eq!(
            sign(&long, "id", "t"),
            Err(AccessError::CsvInvalidId {
                line: 3,
                column: "id".into()
            })
        );
    }

    #[test]
    fn an_invalid_id_error_does_not_show_the_id() {
        let error = sign("id\n\"secret\u{7}id\"\n", "id", "t").unwrap_err();
        assert!(!error.to_string().contains("secret"), "{error}");
        assert!(error.to_string().contains("line 2"), "{error}");
    }

    #[test]
    fn a_short_row_is_reported_with_its_line() {
        let error = sign("id,name\nalice,A\nbob\n", "id", "t").unwrap_err();
        assert!(
            matches!(&error, AccessError::Csv(message) if message.contains("line: 3")),
            "{error}"
        );
    }

    #[test]
    fn missing_and_clashing_columns_are_refused() {
        assert_eq!(
            sign("email,name\na,b\n", "id", "t"),
            Err(AccessError::CsvMissingColumn("id".into()))
        );
        assert_eq!(
            sign("id,t\na,b\n", "id", "t"),
            Err(AccessError::CsvColumnExists("t".into()))
        );
    }

    #[test]
    fn a_header_alone_gives_zero_rows() {
        assert_eq!(sign("id\n", "id", "t").unwrap(), (0, "id,t\n".to_string()));
    }
}
