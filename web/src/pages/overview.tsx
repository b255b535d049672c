import { page } from './index.tsx';
import { PageHeader } from '../ui.tsx';

function Overview() {
  return <PageHeader title="Overview" />;
}

page({ path: '/', title: 'Overview', nav: true, permission: 'tokens.read', component: Overview });
