// The console's pages, in navigation order: each module registers itself (pages/index.tsx).
import './pages/overview.tsx';
