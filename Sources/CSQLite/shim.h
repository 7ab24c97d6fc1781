// Debian's libsqlite3-dev: the C API the SQLite store is written on, plus the settings of sqlite3_db_config() and the
// destructor constant of sqlite3_bind_blob(), which Swift cannot call or import as they are (variadic, a cast macro).
#include <sqlite3.h>

/// Stops a closing connection from checkpointing the WAL into the database file when it is the last one open: a
/// step process is often the last connection, and the checkpoint's page copies and fsyncs would be paid by every
/// short-lived process. The WAL is checkpointed by the automatic checkpoint of whichever commit fills it instead.
/// Returns SQLITE_OK, or an error code on a library that does not know the setting (older than 3.16).
static inline int mlc_sqlite_disable_checkpoint_on_close(sqlite3 *db) {
    int enabled = 0;
    return sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, &enabled);
}

/// Binds a copy of `count` bytes (SQLITE_TRANSIENT: SQLite copies them before returning). An empty blob is bound as
/// a zero-length blob, not as NULL (which is what a null pointer would give).
static inline int mlc_sqlite_bind_blob_copy(sqlite3_stmt *statement, int index, const void *bytes, int count) {
    if (count == 0) return sqlite3_bind_zeroblob(statement, index, 0);
    return sqlite3_bind_blob(statement, index, bytes, count, SQLITE_TRANSIENT);
}
