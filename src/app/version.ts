/** The public API's version: the OpenAPI document's, and the product version OCSF events carry. */
export const API_VERSION = '0.1.0';
