//! Assessment periods: a year (`2026`), a quarter (`2026-Q3`) or a month (`2026-11`).

use zhengqi_shared::error::Why;

/// Checks a period; the error says what is expected.
pub fn parse_period(text: &str) -> Result<(), Why> {
    let expected = || {
        Why::new(
            format!("{text:?} is not a period like 2026, 2026-Q3 or 2026-11"),
            format!("“{text}”不是有效的评估期，应形如 2026、2026-Q3 或 2026-11"),
        )
    };
    let (year, rest) = match text.split_once('-') {
        Some((year, rest)) => (year, Some(rest)),
        None => (text, None),
    };
    if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
        return Err(expected());
    }
    let year: u32 = year.parse().map_err(|_| expected())?;
    if !(2000..=2100).contains(&year) {
        return Err(Why::new(
            format!("the year of {text:?} must be from 2000 to 2100"),
            format!("评估期“{text}”的年份须在2000年至2100年之间"),
        ));
    }
    match rest {
        None => Ok(()),
        Some(quarter) if quarter.starts_with('Q') => match quarter {
            "Q1" | "Q2" | "Q3" | "Q4" => Ok(()),
            _ => Err(expected()),
        },
        Some(month) => {
            let ok = month.len() == 2
                && month.bytes().all(|b| b.is_ascii_digit())
                && month.parse::<u32>().is_ok_and(|m| (1..=12).contains(&m));
            if ok { Ok(()) } else { Err(expected()) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years_quarters_and_months_are_periods() {
        for good in ["2026", "2026-Q3", "2026-11", "2026-01"] {
            assert!(parse_period(good).is_ok(), "{good}");
        }
        for bad in [
            "", "26", "2026-Q5", "2026-13", "2026-1", "2026-00", "1999", "2026-Q", "abcd",
        ] {
            assert!(parse_period(bad).is_err(), "{bad}");
        }
    }
}
