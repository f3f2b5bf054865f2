//! The `/history` query: its parameters, their validation, and the opaque pagination cursor.
//!
//! Parsing is strict: an unknown parameter, a repeated single-valued one, a malformed time or an
//! out-of-range limit is an [`ApiError::BadParameter`] naming the parameter and what it accepts.

use serde::{Deserialize, Serialize};
use workloads::{Function, Outcome};

use crate::error::{ApiError, Result};

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 10_000;

/// Every parameter `/history` accepts, in documentation order.
pub const HISTORY_PARAMETERS: [&str; 12] = [
    "run",
    "experiment",
    "function",
    "size",
    "outcome",
    "status",
    "from",
    "to",
    "limit",
    "cursor",
    "samples",
    "format",
];

/// A time bound as accepted by `from`/`to`.
const TIME_ALLOWED: &str =
    "integer ns since the Unix epoch, or RFC 3339 (e.g. 2026-12-04T21:08:57.5Z or +01:00 offset)";

/// Which records a `/history` page holds. Repeated filter parameters are alternatives (OR);
/// different parameters must all hold (AND).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    pub runs: Vec<String>,
    pub experiments: Vec<String>,
    pub functions: Vec<Function>,
    pub sizes: Vec<String>,
    pub outcomes: Vec<Outcome>,
    /// HTTP status codes of the answers.
    pub statuses: Vec<u16>,
    /// Keep records with `start_ns >= from_ns`.
    pub from_ns: Option<i64>,
    /// Keep records with `start_ns < to_ns`.
    pub to_ns: Option<i64>,
    pub limit: usize,
    pub cursor: Option<Cursor>,
    /// Add each metric's raw in-window samples to `states`.
    pub samples: bool,
}

/// Where the previous page ended: records sort by (`run`, `seq`) for run directories and by
/// (`start_ns`, `run`, `seq`) for the live source; a page starts strictly after the cursor.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Cursor {
    pub start_ns: i64,
    pub run: String,
    pub seq: u64,
}

impl Cursor {
    /// The opaque token clients pass back: hex of the JSON, so it survives any URL unescaped.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        json.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn decode(token: &str) -> Result<Cursor> {
        let invalid = || {
            ApiError::bad(
                "cursor",
                "not a cursor this server issued",
                "the next_cursor of a previous page",
            )
        };
        if !token.len().is_multiple_of(2) || token.len() > 4096 {
            return Err(invalid());
        }
        let bytes = (0..token.len())
            .step_by(2)
            .map(|i| {
                token
                    .get(i..i + 2)
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(invalid)?;
        serde_json::from_slice(&bytes).map_err(|_| invalid())
    }
}

/// The output formats of `/history`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Json,
    Ndjson,
    Csv,
    Parquet,
}

impl Format {
    pub const ALL: [Format; 4] = [Format::Json, Format::Ndjson, Format::Csv, Format::Parquet];

    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Ndjson => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Parquet => "application/vnd.apache.parquet",
        }
    }

    fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The format an `Accept` header asks for: the first media type we serve, JSON otherwise.
    pub fn from_accept(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Json;
        };
        accept
            .split(',')
            .filter_map(|item| {
                let media = item.split(';').next().unwrap_or("").trim();
                match media.to_ascii_lowercase().as_str() {
                    "application/json" => Some(Format::Json),
                    "application/x-ndjson" | "application/ndjson" | "application/jsonl" => {
                        Some(Format::Ndjson)
                    }
                    "text/csv" => Some(Format::Csv),
                    "application/vnd.apache.parquet" | "application/x-parquet" => {
                        Some(Format::Parquet)
                    }
                    _ => None,
                }
            })
            .next()
            .unwrap_or(Format::Json)
    }
}

/// A parsed `/history` request: the query and the format asked for by `?format=`, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryParams {
    pub query: Query,
    pub format: Option<Format>,
}

impl HistoryParams {
    /// Parses the decoded `key=value` pairs of a query string.
    pub fn parse(pairs: &[(String, String)]) -> Result<HistoryParams> {
        let mut query = Query {
            limit: DEFAULT_LIMIT,
            ..Query::default()
        };
        let mut format = None;
        let mut seen_single: Vec<&str> = Vec::new();
        for (key, value) in pairs {
            let Some(&name) = HISTORY_PARAMETERS.iter().find(|&&p| p == key) else {
                return Err(ApiError::bad(
                    key,
                    "unknown parameter",
                    HISTORY_PARAMETERS.join(", "),
                ));
            };
            let single = matches!(
                name,
                "from" | "to" | "limit" | "cursor" | "samples" | "format"
            );
            if single {
                if seen_single.contains(&name) {
                    return Err(ApiError::bad(name, "given more than once", "one value"));
                }
                seen_single.push(name);
            }
            match name {
                "run" => query.runs.push(value.clone()),
                "experiment" => query.experiments.push(value.clone()),
                "size" => query.sizes.push(value.clone()),
                "function" => query.functions.push(parse_function(value)?),
                "outcome" => query.outcomes.push(parse_outcome(value)?),
                "status" => query.statuses.push(value.parse().map_err(|_| {
                    ApiError::bad(
                        "status",
                        format!("{value:?} is not an HTTP status"),
                        "100..=599",
                    )
                })?),
                "from" => query.from_ns = Some(parse_time("from", value)?),
                "to" => query.to_ns = Some(parse_time("to", value)?),
                "limit" => query.limit = parse_limit(value)?,
                "cursor" => query.cursor = Some(Cursor::decode(value)?),
                "samples" => query.samples = parse_bool("samples", value)?,
                _ => {
                    format = Some(Format::from_name(value).ok_or_else(|| {
                        ApiError::bad(
                            "format",
                            format!("unknown format {value:?}"),
                            "json, ndjson, csv, parquet",
                        )
                    })?);
                }
            }
        }
        if let (Some(from), Some(to)) = (query.from_ns, query.to_ns)
            && from > to
        {
            return Err(ApiError::bad("to", "to is before from", "to >= from"));
        }
        Ok(HistoryParams { query, format })
    }
}

/// Rejects any parameter on routes that take none.
pub fn reject_parameters(pairs: &[(String, String)]) -> Result<()> {
    match pairs.first() {
        Some((key, _)) => Err(ApiError::bad(
            key,
            "unknown parameter",
            "no parameters on this route",
        )),
        None => Ok(()),
    }
}

/// Decodes a raw query string into pairs, rejecting malformed encodings.
pub fn decode_query_string(raw: Option<&str>) -> Result<Vec<(String, String)>> {
    serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| ApiError::bad("query", e.to_string(), "a URL-encoded query string"))
}

fn parse_function(value: &str) -> Result<Function> {
    Function::ALL
        .into_iter()
        .find(|f| f.name() == value)
        .ok_or_else(|| {
            ApiError::bad(
                "function",
                format!("unknown function {value:?}"),
                "ml, pi, dense, video",
            )
        })
}

fn parse_outcome(value: &str) -> Result<Outcome> {
    Outcome::from_name(value).ok_or_else(|| {
        let names: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
        ApiError::bad(
            "outcome",
            format!("unknown outcome {value:?}"),
            names.join(", "),
        )
    })
}

fn parse_bool(parameter: &str, value: &str) -> Result<bool> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ApiError::bad(
            parameter,
            format!("{value:?} is not a boolean"),
            "true, false, 1, 0",
        )),
    }
}

fn parse_limit(value: &str) -> Result<usize> {
    let allowed = format!("1..={MAX_LIMIT}");
    let limit: i128 = value
        .parse()
        .map_err(|_| ApiError::bad("limit", format!("{value:?} is not an integer"), &allowed))?;
    if limit < 1 || limit > MAX_LIMIT as i128 {
        return Err(ApiError::bad(
            "limit",
            format!("{limit} is out of range"),
            allowed,
        ));
    }
    Ok(limit as usize)
}

/// Parses a time bound: integer ns since the epoch, or RFC 3339 with `Z` or a `±HH:MM` offset.
pub fn parse_time(parameter: &str, value: &str) -> Result<i64> {
    let malformed = || ApiError::bad(parameter, format!("malformed time {value:?}"), TIME_ALLOWED);
    if let Ok(ns) = value.parse::<i64>() {
        return Ok(ns);
    }
    parse_rfc3339(value).ok_or_else(malformed)
}

fn parse_rfc3339(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || !text.is_ascii() {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = text.get(range)?;
        digits
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    let separators_ok = bytes[4] == b'-'
        && bytes[7] == b'-'
        && matches!(bytes[10], b'T' | b't' | b' ')
        && bytes[13] == b':'
        && bytes[16] == b':';
    if !separators_ok {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    let mut nanos = 0i64;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        nanos = fraction[..digits].parse::<i64>().ok()? * 10i64.pow(9 - digits as u32);
        rest = &fraction[digits..];
    }
    let offset_seconds = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hours: i64 = rest[1..3].parse().ok()?;
            let minutes: i64 = rest[4..6].parse().ok()?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            sign * (hours * 3600 + minutes * 60)
        }
        _ => return None,
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_seconds;
    seconds.checked_mul(1_000_000_000)?.checked_add(nanos)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn bad_parameter(list: &[(&str, &str)]) -> String {
        match HistoryParams::parse(&pairs(list)) {
            Err(ApiError::BadParameter { parameter, .. }) => parameter,
            other => panic!("expected a bad parameter, got {other:?}"),
        }
    }

    #[test]
    fn rfc3339_round_trips_with_the_dataset_formatter() {
        for ns in [
            0,
            1_700_000_000_000_000_000,
            951_782_400_000_001_500,
            1_796_417_254_980_671_260,
        ] {
            let text = dataset::rfc3339_utc(ns);
            assert_eq!(parse_time("from", &text).unwrap(), ns, "{text}");
        }
        assert_eq!(
            parse_time("from", "2023-11-14T23:13:20+01:00").unwrap(),
            1_700_000_000_000_000_000
        );
        assert_eq!(parse_time("to", "12345").unwrap(), 12345);
    }

    #[test]
    fn malformed_times_name_their_parameter() {
        for bad in [
            "yesterday",
            "2023-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2023-11-14T22:13:20",
            "2023-11-14T22:13:20.Z",
            "2023-11-14T22:13:20.1234567890Z",
            "2023-11-14T22:13:20+1:00",
            "99999999999999999999",
        ] {
            assert_eq!(bad_parameter(&[("from", bad)]), "from", "{bad}");
        }
        assert_eq!(bad_parameter(&[("to", "nope")]), "to");
        assert_eq!(bad_parameter(&[("from", "10"), ("to", "5")]), "to");
    }

    #[test]
    fn limits_outside_the_range_are_refused() {
        for bad in ["0", "-1", "10001", "99999999999999999999999999", "ten"] {
            assert_eq!(bad_parameter(&[("limit", bad)]), "limit", "{bad}");
        }
        let parsed = HistoryParams::parse(&pairs(&[("limit", "10000")])).unwrap();
        assert_eq!(parsed.query.limit, MAX_LIMIT);
        assert_eq!(
            HistoryParams::parse(&[]).unwrap().query.limit,
            DEFAULT_LIMIT
        );
    }

    #[test]
    fn unknown_and_repeated_parameters_are_refused() {
        assert_eq!(bad_parameter(&[("pod_size", "small")]), "pod_size");
        assert_eq!(bad_parameter(&[("limit", "1"), ("limit", "2")]), "limit");
        assert_eq!(bad_parameter(&[("function", "sleep")]), "function");
        assert_eq!(bad_parameter(&[("outcome", "fine")]), "outcome");
        assert_eq!(bad_parameter(&[("status", "abc")]), "status");
        assert_eq!(bad_parameter(&[("format", "xml")]), "format");
        assert_eq!(bad_parameter(&[("cursor", "zz")]), "cursor");
        assert_eq!(bad_parameter(&[("samples", "yes")]), "samples");
        // Repeated filters are alternatives.
        let parsed = HistoryParams::parse(&pairs(&[("size", "small"), ("size", "large")])).unwrap();
        assert_eq!(parsed.query.sizes, ["small", "large"]);
    }

    #[test]
    fn cursors_round_trip_and_reject_tampering() {
        let cursor = Cursor {
            start_ns: -5,
            run: "smoke/x y".into(),
            seq: 42,
        };
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        assert!(Cursor::decode("7b7d").is_err()); // `{}`
        assert!(Cursor::decode("abc").is_err());
    }

    #[test]
    fn accept_headers_choose_the_format() {
        assert_eq!(Format::from_accept(None), Format::Json);
        assert_eq!(
            Format::from_accept(Some("text/html, application/x-ndjson;q=0.9")),
            Format::Ndjson
        );
        assert_eq!(Format::from_accept(Some("text/csv")), Format::Csv);
        assert_eq!(
            Format::from_accept(Some("application/vnd.apache.parquet")),
            Format::Parquet
        );
        assert_eq!(Format::from_accept(Some("*/*")), Format::Json);
    }
}
