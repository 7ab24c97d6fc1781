// Debian's libsqlite3-dev: the settings of sqlite3_db_config(), which is variadic and so not callable from Swift.
#include <sqlite3.h>

/// Stops a closing connection from checkpointing the WAL into the database file when it is the last one open: a
/// step process is often the last connection, and the checkpoint's page copies and fsyncs would be paid by every
/// short-lived process. The WAL is checkpointed by the automatic checkpoint of whichever commit fills it instead.
/// Returns SQLITE_OK, or an error code on a library that does not know the setting (older than 3.16).
static inline int mlc_sqlite_disable_checkpoint_on_close(sqlite3 *db) {
    int enabled = 0;
    return sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, &enabled);
}
