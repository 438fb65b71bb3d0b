//! Opens without a recipient's mail client: the preview (a template
//! author's state, at a moment they choose, rendered fresh) and cache
//! warming (what one recipient would see now, rendered into the caches).
//!
//! Neither writes anything for the recipient: no lock, code, timer start
//! or open event. Both go through the same [`Pipeline::resolve`] as an
//! open, so they show what an open would.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::Pipeline;
use super::artwork::Target;
use super::decide::{LinkError, resolve_link};
use super::image::Resolved;
use super::prepare::{prepare_given, prepare_known};
use super::records::open_request;
use crate::cache::{RenderFailure, Source};
use crate::expr::Opener;
use crate::recipient::{Profile, RecipientId};
use crate::template::Template;

/// What an author asked to see.
#[derive(Debug, Clone)]
pub struct PreviewRequest {
    /// The profile fields to try; `None` for a recipient with no state.
    pub profile: Option<Profile>,
    /// Whose id the template's sources are called with, if anyone's.
    pub recipient: Option<RecipientId>,
    /// The template's declared parameters, already checked.
    pub query: BTreeMap<String, String>,
    pub now: jiff::Timestamp,
    pub user_agent: Option<String>,
    pub opener: Opener,
    pub target: Target,
    /// The variant to show whatever the rules choose: the studio shows
    /// every one.
    pub variant: Option<String>,
}

/// What the author sees.
#[derive(Debug)]
pub struct Preview {
    pub variant: String,
    /// The variant the rules choose for this state; the one shown, unless
    /// another was forced.
    pub chosen: String,
    /// The click's destination, or why it does not resolve.
    pub link: Result<Option<String>, LinkError>,
    pub bytes: Bytes,
    /// How long the render took, slot wait included.
    pub render_time: Duration,
}

/// Why a preview shows no image.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error(
        "a text of the chosen variant does not resolve for this state; an open would get the fallback image"
    )]
    Text,
    #[error("{0}")]
    Render(RenderFailure),
    #[error("the template has no variant {0:?}")]
    NoVariant(String),
}

/// What warming one recipient did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Warmed {
    /// Rendered now, or already in a cache.
    Done(Source),
    /// A text did not resolve, or the render failed or found no slot.
    Failed,
}

impl Pipeline {
    /// `template` as an open with the author's `request` would show it,
    /// rendered fresh through the render slots.
    pub async fn preview(
        &self,
        template: &Template,
        request: PreviewRequest,
    ) -> Result<Preview, PreviewError> {
        let forced = match &request.variant {
            None => None,
            Some(id) => Some(
                template
                    .variant(id)
                    .ok_or_else(|| PreviewError::NoVariant(id.clone()))?,
            ),
        };
        let wants = open_request(template);
        let prepared = prepare_given(
            self,
            template,
            &wants,
            request.recipient,
            request.profile,
            request.query,
            request.now,
            request.user_agent.as_deref(),
            request.opener,
        )
        .await;
        let Resolved {
            artwork,
            shown,
            context,
            chosen,
            ..
        } = self
            .resolve_as(template, request.target, &prepared, forced)
            .await
            .ok_or(PreviewError::Text)?;
        let link = resolve_link(template, shown.variant, &context);
        let started = Instant::now();
        let bytes = self
            .cache
            .render_now(artwork)
            .await
            .map_err(PreviewError::Render)?;
        Ok(Preview {
            variant: shown.variant.id.clone(),
            chosen: chosen.to_string(),
            link,
            bytes,
            render_time: started.elapsed(),
        })
    }

    /// Renders what `recipient` would see of `template` now into this
    /// replica's cache and the shared one, as an open by `opener` with
    /// `user_agent` and `query` would.
    pub async fn warm_one(
        &self,
        template: &Template,
        target: Target,
        recipient: RecipientId,
        query: BTreeMap<String, String>,
        user_agent: Option<&str>,
        opener: Opener,
    ) -> Warmed {
        let wants = open_request(template);
        let prepared =
            prepare_known(self, template, recipient, &wants, query, user_agent, opener).await;
        let Some(Resolved { key, artwork, .. }) = self.resolve(template, target, &prepared).await
        else {
            return Warmed::Failed;
        };
        match self.cache.warm(key, artwork).await {
            Ok(source) => Warmed::Done(source),
            Err(_) => Warmed::Failed,
        }
    }
}
