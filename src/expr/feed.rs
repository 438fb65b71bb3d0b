//! What expressions see of the configured product feeds: `feed.NAME`, the
//! list of a feed's items (each a map), and `feed_item('NAME', ID)`, the
//! item whose key is ID, found through an index rather than a scan.
//!
//! The values are built once per feed generation (by `feeds/`, which
//! keeps them in step with the store) and shared: a request's context holds
//! the whole set as one reference-counted [`Value`], so an open pays a
//! pointer copy for it, whatever the feeds' size.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use minijinja::State;
use minijinja::value::{Enumerator, Object, ObjectExt, Value};

/// The name the set goes by in a request's context.
pub const FEED_ROOT: &str = "feed";

/// One feed's items, ready for expressions.
#[derive(Debug)]
pub struct FeedItems {
    /// A minijinja list, so that `feed.NAME` costs a reference count.
    list: Value,
    /// Item key to its place in `list`; the first item wins a repeated key.
    index: HashMap<String, usize>,
}

impl FeedItems {
    /// The items in feed order, each indexed by its `key` field. Items
    /// without it are not indexed (the feed's reader has skipped them).
    pub fn new(items: Vec<Value>, key: &str) -> FeedItems {
        let mut index = HashMap::with_capacity(items.len());
        for (position, item) in items.iter().enumerate() {
            if let Some(id) = item.get_attr(key).ok().as_ref().and_then(key_text) {
                index.entry(id).or_insert(position);
            }
        }
        FeedItems {
            list: Value::from(items),
            index,
        }
    }

    pub fn len(&self) -> usize {
        self.list.len().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The item whose key reads as `id`.
    pub fn get(&self, id: &str) -> Option<Value> {
        let position = *self.index.get(id)?;
        self.list.get_item_by_index(position).ok()
    }
}

/// Every configured feed's items, by feed name: the value of `feed`.
#[derive(Debug, Default)]
pub struct FeedSet {
    feeds: BTreeMap<String, Arc<FeedItems>>,
}

impl FeedSet {
    pub fn new(feeds: BTreeMap<String, Arc<FeedItems>>) -> FeedSet {
        FeedSet { feeds }
    }

    /// The set as the value expressions read.
    pub fn into_value(self) -> Value {
        Value::from_object(self)
    }

    pub fn feed(&self, name: &str) -> Option<&Arc<FeedItems>> {
        self.feeds.get(name)
    }
}

impl Object for FeedSet {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(self.feeds.get(key.as_str()?)?.list.clone())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        self.mapped_enumerator(|this| Box::new(this.feeds.keys().cloned().map(Value::from)))
    }
}

/// `feed_item('products', 'sku-2')`: the item of the feed whose key is the
/// id (a number reads as its digits), or undefined when the feed or the
/// item is not there, so that rules fall back as for a missing field.
pub(crate) fn feed_item(state: &State, name: &str, id: &Value) -> Value {
    state
        .lookup(FEED_ROOT)
        .and_then(|feeds| {
            let set = feeds.downcast_object_ref::<FeedSet>()?;
            set.feed(name)?.get(&key_text(id)?)
        })
        .unwrap_or(Value::UNDEFINED)
}

/// An item key as text: a string as it is, a number as its digits.
fn key_text(value: &Value) -> Option<String> {
    if let Some(text) = value.as_str() {
        return Some(text.to_string());
    }
    if value.is_number() {
        return Some(value.to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> Value {
        let items = vec![
            Value::from(minijinja::value::Serde(
                serde_json::json!({"id": "sku-1", "title": "Boots"}),
            )),
            Value::from(minijinja::value::Serde(
                serde_json::json!({"id": 2, "title": "Socks"}),
            )),
            Value::from(minijinja::value::Serde(
                serde_json::json!({"title": "no id"}),
            )),
        ];
        let mut feeds = BTreeMap::new();
        feeds.insert(
            "products".to_string(),
            Arc::new(FeedItems::new(items, "id")),
        );
        FeedSet::new(feeds).into_value()
    }

    fn render(source: &str) -> String {
        let environment = crate::expr::environment::configured_environment();
        environment
            .render_str(source, minijinja::context! { feed => set() })
            .expect("renders")
    }

    #[test]
    fn items_are_listed_and_looked_up_by_key() {
        assert_eq!(render("{{ feed.products | length }}"), "3");
        assert_eq!(render("{{ feed.products[1].title }}"), "Socks");
        assert_eq!(
            render("{{ feed_item('products', 'sku-1').title }}"),
            "Boots"
        );
        assert_eq!(render("{{ feed_item('products', 2).title }}"), "Socks");
        assert_eq!(render("{{ feed_item('products', '2').title }}"), "Socks");
        assert_eq!(
            render("{{ feed_item('products', 'sku-9') is undefined }}"),
            "True"
        );
        assert_eq!(
            render("{{ feed_item('nope', 'sku-1') is undefined }}"),
            "True"
        );
        assert_eq!(render("{{ feed.nope is undefined }}"), "True");
        assert_eq!(
            render("{% for name in feed %}{{ name }}{% endfor %}"),
            "products"
        );
    }

    #[test]
    fn without_feeds_an_item_is_undefined() {
        let environment = crate::expr::environment::configured_environment();
        let text = environment
            .render_str("{{ feed_item('products', 'a') is undefined }}", ())
            .expect("renders");
        assert_eq!(text, "True");
    }
}
