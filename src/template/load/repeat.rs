//! A repeat layer: a list expression, the grid it fills, and the child
//! layers drawn in each cell, checked like a variant's own layers (their
//! errors under `layers[i].layers[j]`) and held to their cell.

use super::layers::LayerSite;
use super::{Builder, TemplateError};
use crate::expr::Condition;
use crate::template::file::LayerFile;
use crate::template::{RepeatLayer, VariantLayer};

/// The most items one repeat layer draws: a grid in an email is a few
/// products, and each is drawn at every render.
pub const MAX_ITEMS: u32 = 24;

/// A repeat layer's own fields, as the file gives them.
pub(super) struct RepeatFields {
    pub(super) items: String,
    pub(super) max: u32,
    pub(super) columns: u32,
    pub(super) gap: f32,
    pub(super) layers: Vec<LayerFile>,
}

impl Builder<'_> {
    pub(super) fn repeat_layer(
        &mut self,
        site: &LayerSite,
        fields: RepeatFields,
    ) -> Result<VariantLayer, TemplateError> {
        let items =
            Condition::compile(&fields.items).map_err(|e| site.error("items", e.to_string()))?;
        if fields.max == 0 || fields.max > MAX_ITEMS {
            return Err(site.error("max", format!("must be 1 to {MAX_ITEMS}")));
        }
        if fields.columns == 0 || fields.columns > fields.max {
            return Err(site.error(
                "columns",
                "must be 1 to max: the grid is columns wide and fills row by row".into(),
            ));
        }
        if !fields.gap.is_finite() || fields.gap < 0.0 {
            return Err(site.error("gap", "must be 0 or more".into()));
        }
        let frame = site.frame()?;
        let mut repeat = RepeatLayer {
            frame,
            items,
            max: fields.max as usize,
            columns: fields.columns,
            gap: fields.gap,
            layers: Vec::with_capacity(fields.layers.len()),
        };
        let (cell_width, cell_height) = repeat.cell_size();
        if cell_width < 1.0 || cell_height < 1.0 {
            return Err(site.error(
                "gap",
                "leaves no room for the cells: make the layer larger, the gap smaller or max smaller".into(),
            ));
        }
        if fields.layers.is_empty() {
            return Err(site.error(
                "layers",
                "a repeat layer draws its layers once per item: give it at least one".into(),
            ));
        }
        for (index, child) in fields.layers.into_iter().enumerate() {
            let path = format!("{}.layers[{index}]", site.path);
            let kind_allowed = !matches!(
                child,
                LayerFile::Repeat { .. }
                    | LayerFile::Countdown { .. }
                    | LayerFile::PollResults { .. }
            );
            if !kind_allowed {
                return Err(TemplateError {
                    file: site.file.to_path_buf(),
                    variant: Some(site.variant.to_string()),
                    field: Some(format!("{path}.type")),
                    message: "a repeat layer's cells hold rect, image, text, qr and barcode layers"
                        .into(),
                });
            }
            let layer = self.layer(child, site.variant, &path)?;
            let (_, child_frame) = layer.outline();
            let fits = child_frame.x >= 0.0
                && child_frame.y >= 0.0
                && child_frame.x + child_frame.width <= cell_width + 0.5
                && child_frame.y + child_frame.height <= cell_height + 0.5;
            if !fits {
                return Err(TemplateError {
                    file: site.file.to_path_buf(),
                    variant: Some(site.variant.to_string()),
                    field: Some(format!("{path}.width")),
                    message: format!(
                        "does not fit its cell: coordinates are relative to the cell, which is {cell_width:.0} x {cell_height:.0}"
                    ),
                });
            }
            repeat.layers.push(layer);
        }
        Ok(VariantLayer::Repeat(repeat))
    }
}
