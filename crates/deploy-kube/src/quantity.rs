//! Kubernetes resource quantities (`100m`, `1.5`, `2Gi`, `500M`, `1e3`) as plain numbers, enough
//! to compare a pod's requests and limits with quotas, limit ranges and node capacity.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// The quantity in base units (cores, bytes), or `None` if it does not parse.
fn base_units(text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exponent => {
            let digits = exponent.strip_prefix(['e', 'E'])?;
            10f64.powi(digits.parse().ok()?)
        }
    };
    let value = number * scale;
    (value.is_finite() && value >= 0.0).then_some(value)
}

/// CPU in thousandths of a core, rounded up as the API server does.
pub fn millicores(quantity: &Quantity) -> Option<u64> {
    base_units(&quantity.0).map(|cores| (cores * 1000.0 - 1e-9).ceil().max(0.0) as u64)
}

/// Memory in bytes, rounded up.
pub fn bytes(quantity: &Quantity) -> Option<u64> {
    base_units(&quantity.0).map(|b| (b - 1e-9).ceil().max(0.0) as u64)
}

/// How a reader shows a number of bytes: `2Gi`, `1536Mi`, `1000` .
pub fn show_bytes(bytes: u64) -> String {
    for (suffix, unit) in [("Gi", 1u64 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)] {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{}{suffix}", bytes / unit);
        }
    }
    bytes.to_string()
}

pub fn show_millicores(millicores: u64) -> String {
    format!("{millicores}m")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str) -> Quantity {
        Quantity(text.to_owned())
    }

    #[test]
    fn cpu_quantities_become_millicores() {
        for (text, expected) in [
            ("100m", 100),
            ("0.25", 250),
            ("2", 2000),
            ("1500000u", 1500),
            ("1e-1", 100),
        ] {
            assert_eq!(millicores(&q(text)), Some(expected), "{text}");
        }
    }

    #[test]
    fn memory_quantities_become_bytes() {
        for (text, expected) in [
            ("1Gi", 1u64 << 30),
            ("512Mi", 512 << 20),
            ("500M", 500_000_000),
            ("1e3", 1000),
            ("4096", 4096),
            ("1.5Gi", 3 << 29),
        ] {
            assert_eq!(bytes(&q(text)), Some(expected), "{text}");
        }
    }

    #[test]
    fn garbage_is_none_not_a_panic() {
        for text in ["", "Gi", "12Qi", "1e", "-1Gi", "1..2"] {
            assert_eq!(bytes(&q(text)), None, "{text}");
        }
    }

    #[test]
    fn bytes_show_in_the_largest_exact_unit() {
        assert_eq!(show_bytes(2 << 30), "2Gi");
        assert_eq!(show_bytes(1536 << 20), "1536Mi");
        assert_eq!(show_bytes(1000), "1000");
    }
}
