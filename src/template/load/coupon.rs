//! Checking a template's coupon pool: its name, and the variant shown when
//! it runs out.

use super::{Builder, TemplateError, is_identifier};
use crate::template::file::CouponFile;
use crate::template::{Coupon, Variant};

impl Builder<'_> {
    /// Checks a coupon pool: its name is an identifier and its exhausted
    /// variant exists.
    pub(super) fn coupon(
        &self,
        coupon: Option<CouponFile>,
        variants: &[Variant],
    ) -> Result<Option<Coupon>, TemplateError> {
        let Some(coupon) = coupon else {
            return Ok(None);
        };
        if !is_identifier(&coupon.pool, true) {
            return Err(self.error(
                None,
                "coupon.pool",
                "use lowercase letters, digits, '-' and '_'".into(),
            ));
        }
        let exhausted_variant = match &coupon.exhausted_variant {
            None => None,
            Some(id) => Some(
                variants
                    .iter()
                    .position(|variant| &variant.id == id)
                    .ok_or_else(|| {
                        self.error(
                            None,
                            "coupon.exhausted_variant",
                            format!("no variant has the id {id:?}"),
                        )
                    })?,
            ),
        };
        Ok(Some(Coupon {
            pool: coupon.pool,
            exhausted_variant,
            per_email: coupon.per_email,
        }))
    }
}
