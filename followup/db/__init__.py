"""The SQLite store: where it lives, its schema (migrations) and every SQL statement.

A plain Python API with no CLI imports, split by caller:

    connection  where the database lives, opening it, transactions, backup and check
    schema      the migrations, a plain list of functions
    imports     what the import writes, and the record of its runs
    patients    one patient's card, search
    staff       what the staff record: consents, next contacts, contacts, settings, complaints, surveys
    loading     the records the rules read, for a day's candidates or for named patients
    dayplan     the stored day plan that `followup today` reads
    reporting   the clinic report's inputs
    rights      a patient's data rights: everything stored about them, and erasure
    files       files written safely: exports, backups (a temporary file renamed over the target)
    outbox      what `followup send` sent, is sending, or failed to send
    users       the staff's accounts, logins, and what `followup serve` keeps
    occasions   the clinic's holidays and its own texts for the occasions

Every function is also reachable as ``followup.db.NAME``. The connection uses WAL, a busy timeout
and manual transactions (``BEGIN IMMEDIATE`` for every multi-step write); sqlite-utils runs the
migrations, with plugins off.
"""

from followup.errors import DatabaseError  # noqa: F401 (raised by the store)
from followup.db.connection import *  # noqa: F401,F403
from followup.db.schema import *  # noqa: F401,F403
from followup.db.imports import *  # noqa: F401,F403
from followup.db.patients import *  # noqa: F401,F403
from followup.db.staff import *  # noqa: F401,F403
from followup.db.loading import *  # noqa: F401,F403
from followup.db.dayplan import *  # noqa: F401,F403
from followup.db.reporting import *  # noqa: F401,F403
from followup.db.rights import *  # noqa: F401,F403
from followup.db.files import *  # noqa: F401,F403
from followup.db.outbox import *  # noqa: F401,F403
from followup.db.users import *  # noqa: F401,F403
from followup.db.occasions import *  # noqa: F401,F403
