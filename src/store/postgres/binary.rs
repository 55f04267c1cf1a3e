//! Rows written to a COPY in its binary format, a large piece at a time.
//!
//! The `postgres` crate's `BinaryCopyInWriter` hands every row to the connection on its own (a
//! `block_on` of the driver per row, and a message each 4 KiB): at 200,000 rows that cost the
//! import's writing thread more than encoding the rows did. Here the rows are encoded with the same
//! `ToSql` implementations into one buffer, and that buffer goes to the COPY's plain writer
//! (`CopyInWriter`, a `std::io::Write`) each time it holds `PIECE` bytes.

use std::io::Write;

use bytes::{BufMut, BytesMut};
use postgres::types::{IsNull, ToSql, Type};
use postgres::{CopyInWriter, Transaction};

/// How much is encoded before it goes to the server.
const PIECE: usize = 256 * 1024;

/// Why rows could not be written.
#[derive(Debug)]
pub(super) enum CopyError {
    /// The server refused them, or the connection failed.
    Db(postgres::Error),
    /// A value could not be encoded as its column's type.
    Value(String),
    /// The COPY's input failed otherwise.
    Io(std::io::Error),
}

impl From<postgres::Error> for CopyError {
    fn from(e: postgres::Error) -> CopyError {
        CopyError::Db(e)
    }
}

impl CopyError {
    /// As the store says it.
    pub(super) fn into_store(self) -> crate::store::StoreError {
        match self {
            CopyError::Db(e) => super::store::db(e),
            CopyError::Value(e) => crate::store::StoreError::Backend(format!("cannot write a row for COPY: {e}")),
            CopyError::Io(e) => super::store::copy_failed(e),
        }
    }
}

/// An open binary COPY into a table of the transaction.
pub(super) struct BinaryCopy<'a> {
    writer: CopyInWriter<'a>,
    types: &'a [Type],
    buf: BytesMut,
}

impl<'a> BinaryCopy<'a> {
    /// Starts `COPY table FROM STDIN (FORMAT binary)`, `table` with its column list, of these types.
    pub(super) fn start(tx: &'a mut Transaction<'_>, table: &str, types: &'a [Type]) -> Result<Self, CopyError> {
        let writer = tx.copy_in(&format!("COPY {table} FROM STDIN (FORMAT binary)"))?;
        let mut buf = BytesMut::with_capacity(PIECE + 4096);
        // The signature, no flags, no header extension.
        buf.put_slice(b"PGCOPY\n\xff\r\n\0");
        buf.put_i32(0);
        buf.put_i32(0);
        Ok(BinaryCopy { writer, types, buf })
    }

    /// One row: a value for each column, in order.
    pub(super) fn write(&mut self, values: &[&(dyn ToSql + Sync)]) -> Result<(), CopyError> {
        debug_assert_eq!(values.len(), self.types.len(), "a value for each column");
        self.buf.put_i16(values.len() as i16);
        for (value, ty) in values.iter().zip(self.types) {
            let at = self.buf.len();
            self.buf.put_i32(0);
            let len = match value.to_sql_checked(ty, &mut self.buf).map_err(|e| CopyError::Value(e.to_string()))? {
                IsNull::Yes => {
                    self.buf.truncate(at + 4);
                    -1
                }
                IsNull::No => i32::try_from(self.buf.len() - at - 4)
                    .map_err(|_| CopyError::Value("a value of more than 2 GiB".into()))?,
            };
            self.buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
        }
        if self.buf.len() >= PIECE {
            self.send()?;
        }
        Ok(())
    }

    fn send(&mut self) -> Result<(), CopyError> {
        let sent = self.writer.write_all(&self.buf);
        self.buf.clear();
        // The plain writer's errors are the connection's, wrapped.
        sent.map_err(|e| {
            if e.get_ref().is_some_and(|inner| inner.is::<postgres::Error>()) {
                let inner = e.into_inner().expect("checked above");
                CopyError::Db(*inner.downcast::<postgres::Error>().expect("checked above"))
            } else {
                CopyError::Io(e)
            }
        })
    }

    /// Ends the rows and the COPY: the server has checked and written them when this returns.
    pub(super) fn finish(mut self) -> Result<u64, CopyError> {
        self.buf.put_i16(-1);
        self.send()?;
        Ok(self.writer.finish()?)
    }
}
