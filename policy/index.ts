// netlab's CrossGuard policy pack (see policies.ts for the rules).
import { PolicyPack } from '@pulumi/policy';
import { POLICIES } from './policies.ts';

new PolicyPack('netlab-guard', { policies: POLICIES });
