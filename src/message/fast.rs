//! A fast path for the split layout that `fraud produce` and the tutorial write:
//! `{"columns": [...], "data": [[...], ...]}`, optionally inside `{"dataframe_split": ...}`.
//!
//! It scans the bytes once. Numbers are checked against JSON's grammar and parsed in the same
//! pass, eight digits at a time, with Clinger's exact fast path (fast-float2 for the rest), and
//! the column mapping is reused while the `columns` bytes repeat (they do, in a stream). It
//! accepts a strict subset of what the serde path accepts and returns the same rows. It reads
//! only ASCII outside the column names, and the names are checked as UTF-8 when cached, so it
//! needs no separate UTF-8 pass. On anything else (escapes, other value types, other layouts,
//! any error) it returns `None` and the serde path decides, so every rejection keeps its code
//! and message.

use crate::schema::{ColumnMap, FeatureRow, N_FEATURES};

/// The column mapping of the last `columns` array seen, keyed by its exact bytes.
#[derive(Debug, Default)]
pub(super) struct ColumnCache {
    bytes: Vec<u8>,
    /// `target[c]`: the feature held by input column `c`, if any.
    target: Vec<Option<usize>>,
}

struct Scanner<'a> {
    b: &'a [u8],
    p: usize,
}

impl<'a> Scanner<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.b.get(self.p) {
            self.p += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.b.get(self.p) == Some(&c)).then(|| self.p += 1)
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.p).copied()
    }

    fn literal(&mut self, s: &[u8]) -> Option<()> {
        self.ws();
        self.b[self.p..].starts_with(s).then(|| self.p += s.len())
    }

    /// A string without escapes; its contents.
    fn plain_string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let start = self.p;
        let len = memchr::memchr2(b'"', b'\\', &self.b[start..])?;
        if self.b[start + len] != b'"' {
            return None;
        }
        // Control characters are invalid in JSON strings: leave them to serde.
        if self.b[start..start + len].iter().any(|c| *c < 0x20) {
            return None;
        }
        self.p = start + len + 1;
        Some(&self.b[start..start + len])
    }

    /// A number in JSON's grammar, parsed exactly (correctly rounded); None for anything else.
    fn number(&mut self) -> Option<f64> {
        self.ws();
        let (v, end) = json_number(self.b, self.p)?;
        self.p = end;
        Some(v)
    }
}

/// Exact powers of ten: every one up to 1e22 is a double.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
    1e19, 1e20, 1e21, 1e22,
];

/// The leading ASCII digits of an eight-byte word (little-endian, as read from the buffer):
/// how many there are (0 to 8) and their value, without a branch per byte (SWAR, as
/// fast-float's parse_8digits, extended to a partial word).
fn leading_digits(word: [u8; 8]) -> (usize, u64) {
    let v = u64::from_le_bytes(word);
    let low = v.wrapping_sub(0x3030_3030_3030_3030);
    // The high bit of every byte that is not a digit. Carries and borrows only run towards later
    // bytes, so the first flagged byte is exact, whatever follows it.
    let non_digit = (v.wrapping_add(0x4646_4646_4646_4646) | low) & 0x8080_8080_8080_8080;
    let n = (non_digit.trailing_zeros() / 8) as usize;
    if n == 0 {
        return (0, 0);
    }
    // Keep the n digits, moved to the end of the word behind zero digits: same value.
    let low = if n == 8 { low } else { low << (8 * (8 - n)) };
    // Pairs, then fours, then all eight.
    let v = low.wrapping_mul(10).wrapping_add(low >> 8);
    let v1 = (v & 0x0000_00FF_0000_00FF).wrapping_mul(0x000F_4240_0000_0064);
    let v2 = ((v >> 16) & 0x0000_00FF_0000_00FF).wrapping_mul(0x0000_2710_0000_0001);
    (n, u64::from((v1.wrapping_add(v2) >> 32) as u32))
}

/// 10^n for n in 0..=8.
const POW10_U64: [u64; 9] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000];

/// The JSON number starting at `b[start]`: its value and where it ends. One pass checks the
/// grammar and gathers the decimal digits; when they fit in 53 bits and the decimal exponent is
/// within ±22, one IEEE multiply or divide of two exact doubles is the correctly rounded result
/// (Clinger's fast path; it covers the 15-digit values of the card data and what ryu writes
/// for them). Anything else goes to fast-float2. Out of range (1e400) is None: serde's error.
fn json_number(b: &[u8], start: usize) -> Option<(f64, usize)> {
    let mut p = start;
    let negative = b.get(p) == Some(&b'-');
    p += usize::from(negative);
    let mut mantissa = 0u64;
    let mut digits = 0usize; // digits gathered into `mantissa`, leading zeros included
    let gather = |p: &mut usize, mantissa: &mut u64| -> usize {
        let from = *p;
        while let Some(word) = b.get(*p..*p + 8) {
            let (n, value) = leading_digits(word.try_into().expect("eight bytes"));
            *mantissa = mantissa.wrapping_mul(POW10_U64[n]).wrapping_add(value);
            *p += n;
            if n < 8 {
                return *p - from;
            }
        }
        // The last few bytes of the message.
        while let Some(&c) = b.get(*p) {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            *mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d));
            *p += 1;
        }
        *p - from
    };
    match b.get(p)? {
        b'0' => p += 1,
        b'1'..=b'9' => digits += gather(&mut p, &mut mantissa),
        _ => return None,
    }
    let mut exponent = 0i64;
    if b.get(p) == Some(&b'.') {
        p += 1;
        let n = gather(&mut p, &mut mantissa);
        if n == 0 {
            return None;
        }
        digits += n;
        exponent -= n as i64;
    }
    if let Some(b'e' | b'E') = b.get(p) {
        p += 1;
        let sign = match b.get(p) {
            Some(b'-') => { p += 1; -1 }
            Some(b'+') => { p += 1; 1 }
            _ => 1,
        };
        let from = p;
        let mut e = 0i64;
        while let Some(&c) = b.get(p).filter(|c| c.is_ascii_digit()) {
            e = (e * 10 + i64::from(c - b'0')).min(1 << 20);
            p += 1;
        }
        if p == from {
            return None;
        }
        exponent += sign * e;
    }
    if digits <= 19 && mantissa <= 1 << 53 && (-22..=22).contains(&exponent) {
        let m = mantissa as f64;
        let v = if exponent < 0 { m / POW10[(-exponent) as usize] } else { m * POW10[exponent as usize] };
        return Some((if negative { -v } else { v }, p));
    }
    let v: f64 = fast_float2::parse(&b[start..p]).ok()?;
    v.is_finite().then_some((v, p))
}

/// Parses `bytes` if it is the split layout in its plain form, appending its rows to `out`.
pub(super) fn split_layout(bytes: &[u8], cache: &mut ColumnCache, out: &mut Vec<FeatureRow>) -> Option<()> {
    let mut s = Scanner { b: bytes, p: 0 };
    s.eat(b'{')?;
    let nested = if s.peek()? == b'"' && s.b[s.p..].starts_with(b"\"dataframe_split\"") {
        s.literal(b"\"dataframe_split\"")?;
        s.eat(b':')?;
        s.eat(b'{')?;
        true
    } else {
        false
    };
    s.literal(b"\"columns\"")?;
    s.eat(b':')?;
    s.ws();
    let columns_start = s.p;
    // In a stream every message repeats the columns: the cached array, byte for byte, is the
    // same array (it was validated when cached and ends at its own `]`).
    if cache.bytes.is_empty() || !bytes[columns_start..].starts_with(&cache.bytes) {
        s.eat(b'[')?;
        let mut names: Vec<&str> = Vec::with_capacity(N_FEATURES + 2);
        if s.peek()? != b']' {
            loop {
                names.push(std::str::from_utf8(s.plain_string()?).ok()?);
                match s.peek()? {
                    b',' => s.p += 1,
                    b']' => break,
                    _ => return None,
                }
            }
        }
        s.eat(b']')?;
        // Missing columns and duplicates are the serde path's to report.
        let map = ColumnMap::from_names(names.iter().copied()).ok()?;
        let mut sorted = names.clone();
        sorted.sort_unstable();
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return None;
        }
        cache.target = map.inverse();
        cache.bytes = bytes[columns_start..s.p].to_vec();
    } else {
        s.p += cache.bytes.len();
    }

    s.eat(b',')?;
    s.literal(b"\"data\"")?;
    s.eat(b':')?;
    s.eat(b'[')?;
    let before = out.len();
    if s.peek()? != b']' {
        loop {
            s.eat(b'[')?;
            let mut row = [0.0; N_FEATURES];
            for (c, target) in cache.target.iter().enumerate() {
                if c > 0 {
                    s.eat(b',')?;
                }
                let v = s.number()?;
                if let Some(j) = target {
                    row[*j] = v;
                }
            }
            s.eat(b']')?;
            out.push(row);
            match s.peek()? {
                b',' => s.p += 1,
                b']' => break,
                _ => return None,
            }
        }
    }
    s.eat(b']')?;
    if nested {
        s.eat(b'}')?;
    }
    s.eat(b'}')?;
    s.ws();
    // Trailing bytes, or no rows (empty_data is the serde path's to report).
    if s.p != bytes.len() || out.len() == before {
        out.truncate(before);
        return None;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::layouts::Envelope;
    use crate::schema::FEATURE_NAMES;
    use rand::{Rng, SeedableRng};

    /// What the serde path makes of `bytes`.
    fn by_serde(bytes: &[u8]) -> Option<Vec<FeatureRow>> {
        let text = std::str::from_utf8(bytes).ok()?;
        let envelope: Envelope = serde_json::from_str(text).ok()?;
        let mut rows = Vec::new();
        envelope.into_rows(&mut rows).ok()?;
        (!rows.is_empty()).then_some(rows)
    }

    fn by_fast(bytes: &[u8], cache: &mut ColumnCache) -> Option<Vec<FeatureRow>> {
        let mut rows = Vec::new();
        split_layout(bytes, cache, &mut rows).map(|()| rows)
    }

    fn number(rng: &mut impl Rng) -> String {
        match rng.gen_range(0..5) {
            0 => format!("{}", rng.gen_range(-1000..1000)),
            1 => format!("{:e}", rng.gen_range(-1e6..1e6)),
            2 => "0".to_string(),
            _ => format!("{:?}", rng.gen_range(-50.0..50.0) * 10f64.powi(rng.gen_range(-5..5))),
        }
    }

    /// A valid split-layout message: random whitespace, column order, extra columns, rows.
    fn message(rng: &mut impl Rng) -> String {
        let ws = |rng: &mut dyn rand::RngCore| [" ", "", "\n", "\t ", ""][rng.gen_range(0..5)].to_string();
        let mut cols: Vec<String> = FEATURE_NAMES.iter().map(|s| s.to_string()).collect();
        if rng.gen_bool(0.5) {
            cols.push("Time".into());
        }
        if rng.gen_bool(0.3) {
            cols.reverse();
        }
        let rows: Vec<String> = (0..rng.gen_range(1..4))
            .map(|_| {
                let cells: Vec<String> = cols.iter().map(|_| number(rng)).collect();
                format!("[{}]", cells.join(&format!(",{}", ws(rng))))
            })
            .collect();
        let quoted: Vec<String> = cols.iter().map(|c| format!("\"{c}\"")).collect();
        let inner = format!(
            "{{{}\"columns\"{}:{}[{}],{}\"data\":{}[{}]{}}}",
            ws(rng), ws(rng), ws(rng), quoted.join(","), ws(rng), ws(rng), rows.join(","), ws(rng)
        );
        if rng.gen_bool(0.3) { format!("{{\"dataframe_split\": {inner}}}") } else { inner }
    }

    #[test]
    fn takes_every_plain_split_message_and_agrees_with_serde() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut cache = ColumnCache::default();
        for _ in 0..3000 {
            let m = message(&mut rng);
            let fast = by_fast(m.as_bytes(), &mut cache).unwrap_or_else(|| panic!("fast path refused {m}"));
            let serde = by_serde(m.as_bytes()).unwrap_or_else(|| panic!("serde refused {m}"));
            assert_eq!(fast.len(), serde.len());
            for (a, b) in fast.iter().zip(&serde) {
                assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()), "{m}");
            }
        }
    }

    #[test]
    fn never_accepts_what_serde_rejects_or_reads_differently() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let mut cache = ColumnCache::default();
        let junk = b"{}[],:\"0123456789-+eE. \\nxu";
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..20_000 {
            let mut m = message(&mut rng).into_bytes();
            for _ in 0..rng.gen_range(1..3) {
                let i = rng.gen_range(0..m.len());
                match rng.gen_range(0..3) {
                    0 => m[i] = junk[rng.gen_range(0..junk.len())],
                    1 => { m.remove(i); }
                    _ => m.insert(i, junk[rng.gen_range(0..junk.len())]),
                }
            }
            match by_fast(&m, &mut cache) {
                Some(fast) => {
                    accepted += 1;
                    let serde = by_serde(&m).unwrap_or_else(|| panic!("fast accepted what serde rejects: {}", String::from_utf8_lossy(&m)));
                    assert_eq!(fast, serde, "{}", String::from_utf8_lossy(&m));
                }
                None => refused += 1,
            }
        }
        assert!(accepted > 1000 && refused > 1000, "{accepted} accepted, {refused} refused");
    }

    #[test]
    fn leading_digits_of_a_word() {
        let cases: [(&[u8; 8], (usize, u64)); 9] = [
            (b"12345678", (8, 12_345_678)),
            (b"00000009", (8, 9)),
            (b"99999999", (8, 99_999_999)),
            (b"1234567.", (7, 1_234_567)),
            (b"05,-1.23", (2, 5)),
            (b"7]]}\xff\x00\x80/", (1, 7)),
            (b"/2345678", (0, 0)),
            (b":2345678", (0, 0)),
            (b"1234e678", (4, 1234)),
        ];
        for (word, want) in cases {
            assert_eq!(leading_digits(*word), want, "{}", String::from_utf8_lossy(word));
        }
    }

    #[test]
    fn numbers_are_correctly_rounded_on_both_paths() {
        // Each against the correctly rounded parse (fast-float2), bit for bit: the fast path's
        // edges (2^53, 1e±22, 19 digits, leading zeros) and the fallback's cases beyond them.
        let edges = [
            "0", "-0", "1", "-1.5", "9007199254740992", "9007199254740993", "9007199254740993e-3",
            "1e22", "1e23", "1e-22", "1e-23", "4.9e-324", "2.2250738585072014e-308", "1.7976931348623157e308",
            "0.00447568219903875", "-1.3598071336738", "149.62", "1234567890123456789", "12345678901234567890",
            "0.1e1", "1E+2", "1e-0", "0.30000000000000004", "123456789012345678e-40", "7.0e-10",
        ];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let random = (0..200_000).map(|_| match rng.gen_range(0..4) {
            0 => format!("{:?}", f64::from_bits(rng.r#gen::<u64>() & !(0x7ff << 52) | (rng.gen_range(900..1150u64) << 52))),
            1 => format!("{}", rng.gen_range(-1e3..1e3)),
            2 => format!("{:.*}", rng.gen_range(0..20), rng.gen_range(-10.0..10.0)),
            _ => {
                let top = u64::MAX >> rng.gen_range(0..40);
                format!("{}e{}", rng.gen_range(0..top), rng.gen_range(-30..30))
            }
        });
        for text in edges.iter().map(|s| s.to_string()).chain(random) {
            let want: f64 = fast_float2::parse(&text).unwrap();
            let (got, end) = json_number(text.as_bytes(), 0).unwrap_or_else(|| panic!("refused {text}"));
            assert_eq!((got.to_bits(), end), (want.to_bits(), text.len()), "{text}");
        }
        for bad in ["-", "01", "1.", ".5", "1e", "1e+", "+1", "-a", "inf", "NaN", "1e400"] {
            assert!(json_number(bad.as_bytes(), 0).is_none_or(|(_, end)| end < bad.len()), "{bad}");
        }
    }

    #[test]
    fn leaves_other_layouts_and_odd_forms_to_serde() {
        let mut cache = ColumnCache::default();
        let cols = serde_json::to_string(&FEATURE_NAMES).unwrap();
        let row = vec!["1"; 29].join(",");
        for m in [
            format!("{{\"data\": [[{row}]], \"columns\": {cols}}}"),
            format!("{{\"columns\": {cols}, \"data\": [[{row}]], \"index\": [0]}}"),
            format!("{{\"columns\": {}, \"data\": [[{row}]]}}", cols.replace("V1\"", "V\\u0031\"")),
            format!("{{\"columns\": {cols}, \"data\": [[{}]]}}", row.replacen('1', "1e999", 1)),
            format!("{{\"columns\": {cols}, \"data\": [[{}]]}}", row.replacen('1', "01", 1)),
            format!("{{\"columns\": {cols}, \"data\": []}}"),
            format!("{{\"columns\": {cols}, \"data\": [[{row}]]}} x"),
        ] {
            assert!(by_fast(m.as_bytes(), &mut cache).is_none(), "{m}");
        }
    }
}
