import { createContext } from 'preact';
import type { ApiDescription } from './api/openapi.js';

/** This node's API as its OpenAPI document describes it (what pages and features can use). */
export const ApiContext = createContext<ApiDescription | null>(null);
