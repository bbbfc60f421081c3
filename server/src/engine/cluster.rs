//! Bringing a lab cluster up from nothing, as `kplab cluster up` and the benchmarks do.

use anyhow::Context;

use crate::isolation;
use crate::sandbox::image;
use crate::sandbox::{Driver, LabInfo, LabName, LabOptions};

/// `kplab cluster up`: host isolation rules, the node image if missing, then the lab.
pub async fn cluster_up(
    driver: &Driver,
    lab: &LabName,
    options: &LabOptions,
) -> anyhow::Result<LabInfo> {
    // The host rules and the image are independent: prepare both at once, then start the lab.
    let (isolated, image) = tokio::join!(
        tokio::task::spawn_blocking(isolation::install),
        image::ensure(driver, &options.image)
    );
    isolated.context("host isolation task")??;
    image?;
    Ok(driver.up(lab, options).await?)
}
