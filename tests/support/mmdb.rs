//! A small writer of MaxMind DB files (`.mmdb`), for tests only: a handful
//! of networks with their records, written as the public format says
//! (https://maxmind.github.io/MaxMind-DB/), so that opentime's geo lookups
//! are tested against real files without shipping a real database.
//!
//! A file is three parts: the search tree (one node per bit of an address,
//! each node two records of 24, 28 or 32 bits: a node number, "no data"
//! (the node count), or a pointer into the data section past the node
//! count and the 16-byte separator), the data section (typed values:
//! maps, strings, unsigned integers, ...) and, after the marker
//! `\xAB\xCD\xEFMaxMind.com`, the metadata map. An IPv6 file keeps IPv4
//! addresses under `::/96`, and, as real files do, aliases the
//! IPv4-mapped `::ffff:0:0/96` to the same subtree.

use std::net::IpAddr;

/// A value of the data section.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    String(String),
    Double(f64),
    U16(u16),
    U32(u32),
    U64(u64),
    Bool(bool),
    Map(Vec<(String, Data)>),
    Array(Vec<Data>),
}

impl Data {
    /// A map from `(key, value)` pairs.
    pub fn map<const N: usize>(pairs: [(&str, Data); N]) -> Data {
        Data::Map(
            pairs
                .into_iter()
                .map(|(key, value)| (key.to_string(), value))
                .collect(),
        )
    }

    pub fn text(text: &str) -> Data {
        Data::String(text.to_string())
    }

    /// `{"en": name}`, as the `names` maps of city databases are.
    pub fn names(english: &str) -> Data {
        Data::map([("en", Data::text(english))])
    }
}

/// A database being written.
pub struct MmdbWriter {
    ip_version: u16,
    record_size: u16,
    database_type: String,
    networks: Vec<(IpAddr, u8, Data)>,
}

/// A child of a node while the tree is built.
#[derive(Clone, Copy, PartialEq)]
enum Child {
    Empty,
    Node(usize),
    /// An index into the written records.
    Data(usize),
}

impl MmdbWriter {
    /// An IPv6 database with 28-bit records, as GeoLite2 City is.
    pub fn new(database_type: &str) -> MmdbWriter {
        MmdbWriter::with_layout(database_type, 6, 28)
    }

    /// A database of `ip_version` 4 or 6 with records of 24, 28 or 32 bits.
    pub fn with_layout(database_type: &str, ip_version: u16, record_size: u16) -> MmdbWriter {
        assert!(matches!(ip_version, 4 | 6), "ip_version is 4 or 6");
        assert!(
            matches!(record_size, 24 | 28 | 32),
            "record_size is 24, 28 or 32"
        );
        MmdbWriter {
            ip_version,
            record_size,
            database_type: database_type.to_string(),
            networks: Vec::new(),
        }
    }

    /// Adds `network` (`81.2.69.0/24`, `2001:db8::/32`) with its record.
    /// Networks must not overlap.
    pub fn insert(&mut self, network: &str, data: Data) -> &mut MmdbWriter {
        let (address, prefix) = network.split_once('/').expect("a network like 1.2.3.0/24");
        let address: IpAddr = address.parse().expect("a network's address");
        let prefix: u8 = prefix.parse().expect("a network's prefix length");
        self.networks.push((address, prefix, data));
        self
    }

    /// The file's bytes.
    pub fn build(&self) -> Vec<u8> {
        let mut nodes: Vec<[Child; 2]> = vec![[Child::Empty; 2]];
        for (index, (address, prefix, _)) in self.networks.iter().enumerate() {
            let (bits, length) = self.bits_of(*address, *prefix);
            set_path(&mut nodes, bits, length, Child::Data(index));
        }
        if self.ip_version == 6 {
            // `::ffff:a.b.c.d` is the IPv4 subtree under `::/96`, as in
            // MaxMind's own files.
            let ipv4_root = node_at(&mut nodes, 0, 96);
            let mapped = u128::from(0xffff_u32) << 32;
            set_path(&mut nodes, mapped, 96, Child::Node(ipv4_root));
        }

        let node_count = nodes.len();
        let mut data_section = Vec::new();
        let mut data_offsets = Vec::new();
        for (_, _, data) in &self.networks {
            data_offsets.push(data_section.len());
            encode(data, &mut data_section);
        }
        let record_value = |child: Child| -> u64 {
            match child {
                Child::Empty => node_count as u64,
                Child::Node(node) => node as u64,
                Child::Data(index) => (node_count + 16 + data_offsets[index]) as u64,
            }
        };

        let mut file = Vec::new();
        for [left, right] in &nodes {
            write_node(
                &mut file,
                self.record_size,
                record_value(*left),
                record_value(*right),
            );
        }
        file.extend_from_slice(&[0; 16]);
        file.extend_from_slice(&data_section);
        file.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
        let metadata = Data::map([
            ("binary_format_major_version", Data::U16(2)),
            ("binary_format_minor_version", Data::U16(0)),
            ("build_epoch", Data::U64(1_764_000_000)),
            ("database_type", Data::text(&self.database_type)),
            (
                "description",
                Data::map([("en", Data::text("opentime test database"))]),
            ),
            ("ip_version", Data::U16(self.ip_version)),
            ("languages", Data::Array(vec![Data::text("en")])),
            ("node_count", Data::U32(node_count as u32)),
            ("record_size", Data::U16(self.record_size)),
        ]);
        encode(&metadata, &mut file);
        file
    }

    /// Writes the file into `dir` as `name` and returns its path.
    pub fn write_to(&self, dir: &std::path::Path, name: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, self.build()).expect("write the test database");
        path
    }

    /// The address's bits, most significant first in the top of a `u128`,
    /// and how many of them the network fixes, in this file's tree.
    fn bits_of(&self, address: IpAddr, prefix: u8) -> (u128, u8) {
        match (address, self.ip_version) {
            (IpAddr::V4(v4), 4) => ((u128::from(u32::from(v4))) << 96, prefix),
            (IpAddr::V4(v4), _) => (u128::from(u32::from(v4)), prefix + 96),
            (IpAddr::V6(v6), 6) => (u128::from(v6), prefix),
            (IpAddr::V6(_), _) => panic!("an IPv6 network in an IPv4 database"),
        }
    }
}

/// Follows the `length` first bits of `bits` from the root, making nodes
/// as needed, and sets the child the last bit leads to.
fn set_path(nodes: &mut Vec<[Child; 2]>, bits: u128, length: u8, child: Child) {
    assert!(length >= 1, "a network of at least one bit");
    let parent = node_at(nodes, bits, length - 1);
    let bit = bit_at(bits, length - 1);
    assert!(
        nodes[parent][bit] == Child::Empty,
        "networks of a test database must not overlap"
    );
    nodes[parent][bit] = child;
}

/// The node reached after the first `depth` bits of `bits`, made if need
/// be.
fn node_at(nodes: &mut Vec<[Child; 2]>, bits: u128, depth: u8) -> usize {
    let mut node = 0;
    for position in 0..depth {
        let bit = bit_at(bits, position);
        node = match nodes[node][bit] {
            Child::Node(next) => next,
            Child::Empty => {
                nodes.push([Child::Empty; 2]);
                let next = nodes.len() - 1;
                nodes[node][bit] = Child::Node(next);
                next
            }
            Child::Data(_) => panic!("networks of a test database must not overlap"),
        };
    }
    node
}

/// Bit `position` of a 128-bit address, counted from the most significant.
fn bit_at(bits: u128, position: u8) -> usize {
    ((bits >> (127 - position)) & 1) as usize
}

/// One node: its two records, big-endian, in `record_size` bits each; a
/// 28-bit node keeps the top four bits of each record in its middle byte.
fn write_node(out: &mut Vec<u8>, record_size: u16, left: u64, right: u64) {
    assert!(
        left < 1 << record_size && right < 1 << record_size,
        "a record does not fit in {record_size} bits"
    );
    match record_size {
        24 => {
            out.extend_from_slice(&left.to_be_bytes()[5..]);
            out.extend_from_slice(&right.to_be_bytes()[5..]);
        }
        28 => {
            out.extend_from_slice(&left.to_be_bytes()[5..]);
            out.push((((left >> 24) & 0x0f) << 4 | ((right >> 24) & 0x0f)) as u8);
            out.extend_from_slice(&right.to_be_bytes()[5..]);
        }
        _ => {
            out.extend_from_slice(&left.to_be_bytes()[4..]);
            out.extend_from_slice(&right.to_be_bytes()[4..]);
        }
    }
}

/// A value: its control byte (type in the top three bits, or 0 and an
/// extended type byte; size in the low five, with up to three more bytes
/// for a large one), then its payload.
fn encode(data: &Data, out: &mut Vec<u8>) {
    match data {
        Data::String(text) => {
            control(out, 2, text.len());
            out.extend_from_slice(text.as_bytes());
        }
        Data::Double(value) => {
            control(out, 3, 8);
            out.extend_from_slice(&value.to_be_bytes());
        }
        Data::U16(value) => unsigned(out, 5, u64::from(*value)),
        Data::U32(value) => unsigned(out, 6, u64::from(*value)),
        Data::U64(value) => unsigned(out, 9, *value),
        // A boolean's value is its size; it has no payload.
        Data::Bool(value) => control(out, 14, usize::from(*value)),
        Data::Map(pairs) => {
            control(out, 7, pairs.len());
            for (key, value) in pairs {
                encode(&Data::String(key.clone()), out);
                encode(value, out);
            }
        }
        Data::Array(items) => {
            control(out, 11, items.len());
            for item in items {
                encode(item, out);
            }
        }
    }
}

/// An unsigned integer in as few big-endian bytes as it needs (zero in
/// none).
fn unsigned(out: &mut Vec<u8>, type_number: u8, value: u64) {
    let bytes = value.to_be_bytes();
    let significant = &bytes[(value.leading_zeros() / 8) as usize..];
    control(out, type_number, significant.len());
    out.extend_from_slice(significant);
}

fn control(out: &mut Vec<u8>, type_number: u8, size: usize) {
    let (size_bits, extra): (u8, Vec<u8>) = match size {
        0..29 => (size as u8, Vec::new()),
        29..285 => (29, vec![(size - 29) as u8]),
        285..65_821 => (30, ((size - 285) as u16).to_be_bytes().to_vec()),
        _ => (31, ((size - 65_821) as u32).to_be_bytes()[1..].to_vec()),
    };
    if type_number <= 7 {
        out.push(type_number << 5 | size_bits);
    } else {
        out.push(size_bits);
        out.push(type_number - 7);
    }
    out.extend_from_slice(&extra);
}
