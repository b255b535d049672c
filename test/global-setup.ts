/** CI must exercise PostgreSQL: refuse to run a CI suite that would silently skip it. */
export default function setup() {
  if (process.env.CI === 'true' && !process.env.CUSTODY_TEST_POSTGRES_URL) {
    throw new Error('CI=true but CUSTODY_TEST_POSTGRES_URL is not set: the PostgreSQL half of the suite would be skipped.');
  }
  if (!process.env.CUSTODY_TEST_POSTGRES_URL) {
    console.warn('[custody tests] CUSTODY_TEST_POSTGRES_URL is not set: storage tests run on SQLite only.');
  }
}
