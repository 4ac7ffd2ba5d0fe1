//! Decimal numbers read from bytes, exactly: the hot path of the consumer (JSON messages) and of
//! training (CSV cells) both spend most of their time here.

/// Exact powers of ten: every one up to 1e22 is a double.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
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

/// Why one text cell is not a usable number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadCell {
    NotANumber,
    NotFinite,
}

/// Parses one numeric text cell (CSV): surrounding blanks are allowed; `true` and `false` (any
/// case, as pandas writes a boolean column) are 1 and 0; NaN and infinities are refused.
pub fn parse_cell(cell: &[u8]) -> Result<f64, BadCell> {
    let cell = cell.trim_ascii();
    // fast-float2 is correctly rounded, like std's parser, and reads bytes directly.
    match fast_float2::parse::<f64, _>(cell) {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(BadCell::NotFinite),
        Err(_) if cell.eq_ignore_ascii_case(b"true") => Ok(1.0),
        Err(_) if cell.eq_ignore_ascii_case(b"false") => Ok(0.0),
        Err(_) => Err(BadCell::NotANumber),
    }
}

/// The JSON number starting at `b[start]`: its value and where it ends. One pass checks the
/// grammar and gathers the decimal digits; when they fit in 53 bits and the decimal exponent is
/// within ±22, one IEEE multiply or divide of two exact doubles is the correctly rounded result
/// (Clinger's fast path; it covers the 15-digit values of the card data and what ryu writes
/// for them). Anything else goes to fast-float2. Out of range (1e400) is None: serde's error.
#[inline(always)]
pub fn json_number(b: &[u8], start: usize) -> Option<(f64, usize)> {
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
    let first = *b.get(p)?;
    if first.is_ascii_digit() && b.get(p + 1) == Some(&b'.') {
        // The usual shape in this data, one integer digit and a fraction: no word to gather.
        mantissa = u64::from(first - b'0');
        digits = 1;
        p += 1;
    } else {
        match first {
            b'0' => p += 1,
            b'1'..=b'9' => digits += gather(&mut p, &mut mantissa),
            _ => return None,
        }
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
            Some(b'-') => {
                p += 1;
                -1
            }
            Some(b'+') => {
                p += 1;
                1
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn parse_cell_accepts_blanks_and_booleans_and_rejects_words() {
        assert_eq!(parse_cell(b" -1.5e3 "), Ok(-1500.0));
        assert_eq!((parse_cell(b"True"), parse_cell(b"false")), (Ok(1.0), Ok(0.0)));
        assert_eq!(parse_cell(b""), Err(BadCell::NotANumber));
        assert_eq!(parse_cell(b"nan"), Err(BadCell::NotFinite));
        assert_eq!(parse_cell(b"yes"), Err(BadCell::NotANumber));
        assert_eq!(parse_cell(b"\xff"), Err(BadCell::NotANumber));
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
            "0",
            "-0",
            "1",
            "-1.5",
            "9007199254740992",
            "9007199254740993",
            "9007199254740993e-3",
            "1e22",
            "1e23",
            "1e-22",
            "1e-23",
            "4.9e-324",
            "2.2250738585072014e-308",
            "1.7976931348623157e308",
            "0.00447568219903875",
            "-1.3598071336738",
            "149.62",
            "1234567890123456789",
            "12345678901234567890",
            "0.1e1",
            "1E+2",
            "1e-0",
            "0.30000000000000004",
            "123456789012345678e-40",
            "7.0e-10",
        ];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let random = (0..200_000).map(|_| match rng.gen_range(0..4) {
            0 => format!(
                "{:?}",
                f64::from_bits(rng.r#gen::<u64>() & !(0x7ff << 52) | (rng.gen_range(900..1150u64) << 52))
            ),
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
}
