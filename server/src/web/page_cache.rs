//! What the pages need that never changes while the server runs, prepared once at start-up.

/// What the pages need that never changes while the server runs, prepared once at start-up.
pub struct PageCache {
    /// Lab ids in catalog order.
    pub lab_ids: Vec<String>,
    /// Tasks that complete each lab (not those of optional steps), in catalog order.
    pub totals: Vec<usize>,
    /// Summaries per lab as inline HTML ([`super::markdown::inline`]), in catalog order.
    pub summaries: Vec<String>,
    /// Per lab, in catalog order.
    pub labs: Vec<PreparedLab>,
}

/// A lab's unchanging page parts.
pub struct PreparedLab {
    /// Step titles in order.
    pub step_titles: Vec<String>,
    /// Terminal hosts (a tab each).
    pub hosts: Vec<String>,
}

impl PageCache {
    /// Prepares the pages' static parts of a catalog.
    pub fn new(catalog: &labkit::Catalog) -> PageCache {
        PageCache {
            lab_ids: catalog.labs.iter().map(|l| l.id.clone()).collect(),
            totals: catalog
                .labs
                .iter()
                .map(|l| l.required_tasks().count())
                .collect(),
            summaries: catalog
                .labs
                .iter()
                .map(|l| super::markdown::inline(&l.summary))
                .collect(),
            labs: catalog
                .labs
                .iter()
                .map(|l| PreparedLab {
                    step_titles: l.steps.iter().map(|p| p.title.clone()).collect(),
                    hosts: l.hosts(),
                })
                .collect(),
        }
    }
}
