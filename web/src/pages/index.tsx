import type { ComponentType } from 'react';
import type { Permission } from '../../../src/auth/roles.ts';

/**
 * The console's pages: path (with `:params`), the title in the navigation, and the permission
 * the page's main list needs (the navigation hides a page the role cannot read; the server
 * refuses it anyway). Each page lives in its own file in this folder.
 */
export interface PageDef {
  path: string;
  title: string;
  /** Shown in the navigation (pages with parameters are reached from others). */
  nav: boolean;
  permission?: Permission;
  component: ComponentType<{ params: Record<string, string> }>;
}

export const PAGES: PageDef[] = [];

/** Pages register themselves from their own module (see pages.ts), in navigation order. */
export function page(def: PageDef): PageDef {
  PAGES.push(def);
  return def;
}
