//! Sets of IP ranges written as CIDR blocks, and the question asked of them
//! on every request: is this address inside one?
//!
//! Apple publishes tens of thousands of relay ranges, so a set is kept as
//! sorted, merged intervals of integers, one list per address family, and an
//! address is found by binary search: about sixteen comparisons for fifty
//! thousand ranges. CIDR matching is a few lines of integer arithmetic on
//! `std`'s address types, which is why no crate is used for it.

use std::net::IpAddr;

/// A set of IPv4 and IPv6 ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct IpRanges {
    /// Inclusive `(first, last)` addresses, sorted, neither overlapping nor
    /// touching, so that at most one interval can hold an address.
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

/// One CIDR block as the inclusive interval of addresses it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IpRange {
    V4 { first: u32, last: u32 },
    V6 { first: u128, last: u128 },
}

/// A line of a range file that is not a range: its 1-based number, its
/// text, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BadRangeLine {
    pub line: usize,
    pub text: String,
    pub reason: String,
}

impl IpRanges {
    /// Adds `ranges`. Loading is the only time a set changes, so the lists
    /// are simply sorted and merged again.
    pub fn extend(&mut self, ranges: impl IntoIterator<Item = IpRange>) {
        for range in ranges {
            match range {
                IpRange::V4 { first, last } => self.v4.push((first, last)),
                IpRange::V6 { first, last } => self.v6.push((first, last)),
            }
        }
        merge(&mut self.v4, |address| address.checked_add(1));
        merge(&mut self.v6, |address| address.checked_add(1));
    }

    /// Whether `address` is inside one of the ranges. An IPv4 address seen
    /// by a dual-stack socket arrives as `::ffff:a.b.c.d`, and is looked up
    /// among the IPv4 ranges as the address it stands for.
    pub fn contains(&self, address: IpAddr) -> bool {
        match address {
            IpAddr::V4(v4) => holds(&self.v4, v4.to_bits()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => holds(&self.v4, v4.to_bits()),
                None => holds(&self.v6, v6.to_bits()),
            },
        }
    }
}

/// Parses one CIDR block such as `17.0.0.0/8` or `2a02:26f7::/32`. A bare
/// address is a block of one. Bits set beyond the prefix are ignored, as
/// routers do, so `17.1.2.3/8` is `17.0.0.0/8`.
pub(super) fn parse_cidr(text: &str) -> Result<IpRange, String> {
    let text = text.trim();
    let (address_text, prefix_text) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (text, None),
    };
    let address: IpAddr = address_text
        .parse()
        .map_err(|_| format!("{address_text:?} is not an IPv4 or IPv6 address"))?;
    let bits = match address {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    };
    let prefix = match prefix_text {
        None => bits,
        Some(prefix) => parse_prefix(prefix, bits)?,
    };
    Ok(match address {
        IpAddr::V4(v4) => {
            let host_bits = u32::MAX.checked_shr(prefix).unwrap_or(0);
            let first = v4.to_bits() & !host_bits;
            IpRange::V4 {
                first,
                last: first | host_bits,
            }
        }
        IpAddr::V6(v6) => {
            let host_bits = u128::MAX.checked_shr(prefix).unwrap_or(0);
            let first = v6.to_bits() & !host_bits;
            IpRange::V6 {
                first,
                last: first | host_bits,
            }
        }
    })
}

/// Parses a range file: Apple's `egress-ip-ranges.csv`, whose lines read
/// `CIDR,country,region,city,`, or a plain list of one CIDR a line. Only the
/// text before the first comma is read, so both formats are the same to
/// it. Blank lines and lines starting with `#` are skipped.
pub(super) fn parse_range_list(text: &str) -> Result<Vec<IpRange>, BadRangeLine> {
    // A file saved by a Windows editor may start with a byte-order mark,
    // which would otherwise make the first address unreadable.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut ranges = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cidr = line.split(',').next().unwrap_or(line);
        let range = parse_cidr(cidr).map_err(|reason| BadRangeLine {
            line: index + 1,
            text: cidr.trim().to_owned(),
            reason,
        })?;
        ranges.push(range);
    }
    Ok(ranges)
}

fn parse_prefix(text: &str, bits: u32) -> Result<u32, String> {
    // `u32::from_str` would also take "+8"; a prefix length is only digits.
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(format!("the prefix length {text:?} is not a number"));
    }
    match text.parse::<u32>() {
        Ok(prefix) if prefix <= bits => Ok(prefix),
        _ => Err(format!(
            "the prefix length /{text} is longer than an address ({bits} bits)"
        )),
    }
}

/// Sorts the intervals and joins those that overlap or touch; `successor`
/// is the next address, `None` after the last one.
fn merge<T: Copy + Ord>(intervals: &mut Vec<(T, T)>, successor: fn(T) -> Option<T>) {
    intervals.sort_unstable();
    let mut merged: Vec<(T, T)> = Vec::with_capacity(intervals.len());
    for &(first, last) in intervals.iter() {
        match merged.last_mut() {
            Some(previous) if first <= previous.1 || successor(previous.1) == Some(first) => {
                previous.1 = previous.1.max(last);
            }
            _ => merged.push((first, last)),
        }
    }
    *intervals = merged;
}

/// Whether one of the sorted, disjoint intervals holds `address`: the only
/// candidate is the last interval that starts at or before it.
fn holds<T: Copy + Ord>(intervals: &[(T, T)], address: T) -> bool {
    let after = intervals.partition_point(|&(first, _)| first <= address);
    after > 0 && address <= intervals[after - 1].1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(cidrs: &[&str]) -> IpRanges {
        let mut ranges = IpRanges::default();
        ranges.extend(
            cidrs
                .iter()
                .map(|cidr| parse_cidr(cidr).expect("valid CIDR")),
        );
        ranges
    }

    fn address(text: &str) -> IpAddr {
        text.parse().expect("valid address")
    }

    #[test]
    fn addresses_inside_a_block_are_found_and_its_neighbours_are_not() {
        let ranges = set(&["17.0.0.0/8", "172.224.226.0/27", "2a02:26f7:b3c0:4000::/64"]);
        let cases = [
            ("17.0.0.0", true),
            ("17.255.255.255", true),
            ("16.255.255.255", false),
            ("18.0.0.0", false),
            ("172.224.226.31", true),
            ("172.224.226.32", false),
            ("2a02:26f7:b3c0:4000::1", true),
            ("2a02:26f7:b3c0:4000:ffff:ffff:ffff:ffff", true),
            ("2a02:26f7:b3c0:4001::", false),
            // The IPv4 address of a dual-stack socket.
            ("::ffff:17.1.2.3", true),
            ("::ffff:18.1.2.3", false),
        ];
        for (text, inside) in cases {
            assert_eq!(ranges.contains(address(text)), inside, "{text}");
        }
    }

    #[test]
    fn the_extreme_prefixes_cover_everything_or_one_address() {
        let everything = set(&["0.0.0.0/0", "::/0"]);
        assert!(everything.contains(address("255.255.255.255")));
        assert!(everything.contains(address("ffff::1")));
        let one = set(&["192.0.2.7/32", "192.0.2.9", "2001:db8::1/128"]);
        assert!(one.contains(address("192.0.2.7")));
        assert!(!one.contains(address("192.0.2.8")));
        assert!(one.contains(address("192.0.2.9")));
        assert!(one.contains(address("2001:db8::1")));
        assert!(!one.contains(address("2001:db8::2")));
    }

    #[test]
    fn overlapping_and_touching_blocks_merge() {
        let ranges = set(&["10.0.0.0/24", "10.0.1.0/24", "10.0.0.128/25", "10.0.3.0/24"]);
        assert_eq!(ranges.v4.len(), 2);
        assert!(ranges.contains(address("10.0.1.255")));
        assert!(!ranges.contains(address("10.0.2.0")));
        assert!(ranges.contains(address("10.0.3.0")));
    }

    #[test]
    fn host_bits_beyond_the_prefix_are_ignored() {
        assert_eq!(parse_cidr("17.1.2.3/8"), parse_cidr("17.0.0.0/8"));
    }

    #[test]
    fn malformed_blocks_say_what_is_wrong() {
        for (text, reason) in [
            ("17.0.0/8", "not an IPv4 or IPv6 address"),
            ("17.0.0.0/33", "longer than an address (32 bits)"),
            ("::/129", "longer than an address (128 bits)"),
            ("17.0.0.0/+8", "not a number"),
            ("17.0.0.0/", "not a number"),
            ("apple", "not an IPv4 or IPv6 address"),
        ] {
            let error = parse_cidr(text).expect_err(text);
            assert!(error.contains(reason), "{text}: {error}");
        }
    }

    #[test]
    fn range_files_skip_comments_and_blank_lines_and_count_lines_from_one() {
        let text = "\u{feff}# Apple\n\n172.224.226.0/27,GB,GB-EN,London,\n  2a02:26f7::/32  \n";
        let ranges = parse_range_list(text).expect("valid file");
        assert_eq!(ranges.len(), 2);
        let error = parse_range_list("10.0.0.0/8\n\nnot-an-ip,US,US-CA,Cupertino,\n")
            .expect_err("bad line");
        assert_eq!(error.line, 3);
        assert_eq!(error.text, "not-an-ip");
    }
}
