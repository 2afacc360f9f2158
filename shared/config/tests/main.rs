//! hotline.yaml as users write it (and get it wrong), and `apply` on both stores.

mod apply;
mod parse;
