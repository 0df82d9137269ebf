//! The store opens and migrates on both backends, and migrating twice is a no-op.

use evalgate::adapters::store::Store;

async fn migrating_twice_is_a_no_op(store: Store) {
    store.migrate().await.expect("second migrate");
    store.migrate().await.expect("third migrate");
    assert!(store.ping().await);
}

contract_test!(migrate_is_idempotent, migrating_twice_is_a_no_op);
