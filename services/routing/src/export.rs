//! The ledger sheet as files: an Office Open XML workbook and CSV.

use rust_xlsxwriter::{Format, Workbook};
use zhengqi_shared::Error;

use crate::domain::ledger_sheet::{self, HEADERS};

pub const XLSX_CONTENT_TYPE: &str =
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
pub const CSV_CONTENT_TYPE: &str = "text/csv; charset=utf-8";

/// A workbook with one sheet, 台账: the header row, then one row per case.
pub fn xlsx(rows: &[[String; 13]]) -> Result<Vec<u8>, Error> {
    let failed = |e: rust_xlsxwriter::XlsxError| Error::internal(format!("xlsx export: {e}"));
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("台账").map_err(failed)?;
    let bold = Format::new().set_bold();
    for (column, header) in HEADERS.iter().enumerate() {
        sheet
            .write_string_with_format(0, column as u16, *header, &bold)
            .map_err(failed)?;
    }
    for (index, row) in rows.iter().enumerate() {
        for (column, value) in row.iter().enumerate() {
            sheet
                .write_string(index as u32 + 1, column as u16, value)
                .map_err(failed)?;
        }
    }
    for (column, width) in [22, 28, 22, 10, 50, 28, 8, 12, 12, 10, 10, 12, 40]
        .into_iter()
        .enumerate()
    {
        sheet
            .set_column_width(column as u16, width)
            .map_err(failed)?;
    }
    sheet.set_freeze_panes(1, 0).map_err(failed)?;
    workbook.save_to_buffer().map_err(failed)
}

/// UTF-8 CSV with a byte-order mark, so spreadsheet programs read the Chinese text.
pub fn csv(rows: &[[String; 13]]) -> Vec<u8> {
    let mut bytes = "\u{feff}".as_bytes().to_vec();
    bytes.extend_from_slice(ledger_sheet::csv(rows).as_bytes());
    bytes
}
