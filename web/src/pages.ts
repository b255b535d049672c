// The console's pages, in navigation order: each module registers itself (pages/index.tsx).
import './pages/overview.tsx';
import './pages/inventory.tsx';
import './pages/token.tsx';
import './pages/findings.tsx';
import './pages/alerts.tsx';
import './pages/notices.tsx';
import './pages/exceptions.tsx';
import './pages/reviews.tsx';
import './pages/owners.tsx';
import './pages/workloads.tsx';
import './pages/providers.tsx';
import './pages/policies.tsx';
import './pages/reports.tsx';
import './pages/ledger.tsx';
import './pages/webhooks.tsx';
import './pages/apikeys.tsx';
