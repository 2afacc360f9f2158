//! What the crates' tests share, so each test file holds its cases and little else:
//! a store of one's own on local disk or on moto ([`store`]), Twilio's webhooks as
//! the webhook functions get them ([`webhook`]), and [`on_both_stores!`], which runs
//! one case against both. A dev-dependency only.

pub mod store;
pub mod webhook;

/// Runs each case against the local store and against AWS on moto: for every
/// `async fn case(bed)` it generates `local_store::case` and `aws_store::case`, tests
/// that call it with `local().await` and `aws().await`, the two constructors named.
/// The tests are `#[tokio::test]` unless attributes are given first.
///
/// ```ignore
/// hotline_testkit::on_both_stores! {
///     #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
///     local: local_app, aws: aws_app;
///     a_case,
///     another_case,
/// }
/// ```
#[macro_export]
macro_rules! on_both_stores {
    (local: $local:ident, aws: $aws:ident; $($case:ident),* $(,)?) => {
        $crate::on_both_stores!(@cases [#[tokio::test]] $local, $aws; $($case),*);
    };
    ($(#[$test:meta])+ local: $local:ident, aws: $aws:ident; $($case:ident),* $(,)?) => {
        $crate::on_both_stores!(@cases [$(#[$test])+] $local, $aws; $($case),*);
    };
    (@cases $test:tt $local:ident, $aws:ident; $($case:ident),*) => {
        mod local_store { $(
            $crate::on_both_stores!(@test $test $local $case);
        )* }
        mod aws_store { $(
            $crate::on_both_stores!(@test $test $aws $case);
        )* }
    };
    (@test [$(#[$test:meta])+] $store:ident $case:ident) => {
        $(#[$test])+
        async fn $case() { super::$case(super::$store().await).await }
    };
}
