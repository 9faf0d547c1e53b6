import * as fs from 'fs';
import * as path from 'path';

import { CfnElement, Duration, RemovalPolicy, Stack, StackProps, Token, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

import { DEFAULT_FANOUT_CONCURRENCY, FanOut } from './fanout';
import { SelfServiceGroup, SelfServiceSwitches } from './self-service-group';

/** Organizations mode: the member roles keywarden assumes, and how a run fans out. */
export interface OrganizationProps {
  /** The member audit role's name (MEMBER_AUDIT_ROLE). Default `keywarden-audit`. */
  readonly auditRole?: string;
  /** The member rotation role's name (MEMBER_ROTATION_ROLE). Default `keywarden-rotation`. */
  readonly rotationRole?: string;
  /** MEMBER_EXTERNAL_ID, when the member roles require one. */
  readonly externalId?: string;
  /** `stepfunctions`: one invocation per account in a Distributed Map; default in-process. */
  readonly fanout?: 'in-process' | 'stepfunctions';
  /** The map's MaxConcurrency. Default 10. */
  readonly fanoutConcurrency?: number;
}

export type RotationMode = 'off' | 'dry-run' | 'enforce';

/** Thresholds passed to the function as its environment (see the README's table). */
export interface Thresholds {
  readonly maxKeyAgeDays?: number;
  readonly unusedDays?: number;
  readonly inactiveKeyMaxDays?: number;
  readonly rotateAfterDays?: number;
  readonly graceDays?: number;
  readonly inactiveDays?: number;
}

export interface KeywardenStackProps extends StackProps {
  /** Where the alerts go: an email subscription of the alert topic. */
  readonly securityTeamEmail: string;
  /** The directory holding the built `bootstrap` (cargo lambda build --release --arm64). */
  readonly functionAssetPath: string;
  /** EventBridge schedule expression. Default: daily at 06:00 UTC. */
  readonly schedule?: string;
  /** What scheduled runs may do to keys. Default `dry-run`: nothing changes until a human chose `enforce`. */
  readonly rotationMode?: RotationMode;
  readonly thresholds?: Thresholds;
  /** The group-membership desired state (JSON); validated here, and again by the function. */
  readonly desiredState?: string;
  /** Keep every run's report in an S3 bucket (evidence, and "new since last run" in alerts). Default true. */
  readonly reportBucket?: boolean;
  /** Days a report is kept. Default 400: a year of evidence and a margin. */
  readonly reportRetentionDays?: number;
  /** Create the MFA-enforcing self-service group. Default true. */
  readonly createSelfServiceGroup?: boolean;
  /** Its name (keywarden's MFA_GROUP). Default `SelfEdit`. */
  readonly selfServiceGroupName?: string;
  readonly selfService?: SelfServiceSwitches;
  /** Audit the organization's member accounts (run from the management or a delegated administrator account). */
  readonly organization?: OrganizationProps;
  /** Import findings into Security Hub (SECURITY_HUB). Default false. */
  readonly securityHub?: boolean;
}

/**
 * Sized from `make bench`: evaluating 5,000 users (the IAM maximum) with their policies takes
 * about 0.35 s of one core and under 30 MB; 512 MB buys a third of a vCPU and room for the SDK.
 */
export const FUNCTION_MEMORY_MB = 512;
/**
 * The credential report may take up to two minutes to generate (CREDENTIAL_REPORT_MAX_WAIT_SECONDS)
 * and rotation makes about ten IAM and Secrets Manager calls per rotated user; ten minutes
 * leaves room for a first enforcing run over many due keys.
 */
export const FUNCTION_TIMEOUT = Duration.minutes(10);
export const DEFAULT_SCHEDULE = 'cron(0 6 * * ? *)';

const THRESHOLD_VARIABLES: Record<keyof Thresholds, string> = {
  maxKeyAgeDays: 'MAX_KEY_AGE_DAYS',
  unusedDays: 'UNUSED_DAYS',
  inactiveKeyMaxDays: 'INACTIVE_KEY_MAX_DAYS',
  rotateAfterDays: 'ROTATE_AFTER_DAYS',
  graceDays: 'GRACE_DAYS',
  inactiveDays: 'INACTIVE_DAYS',
};

export class KeywardenStack extends Stack {
  public readonly function: lambda.Function;
  public readonly role: iam.Role;
  public readonly topic: sns.Topic;
  public readonly deadLetterQueue: sqs.Queue;
  public readonly bucket?: s3.Bucket;
  public readonly selfServiceGroup?: SelfServiceGroup;
  public readonly fanOut?: FanOut;

  constructor(scope: Construct, id: string, props: KeywardenStackProps) {
    super(scope, id, props);
    validate(props);
    const rotationMode = props.rotationMode ?? 'dry-run';
    const groupName = props.selfServiceGroupName ?? 'SelfEdit';

    // Alerts: a customer key, because CloudWatch alarms cannot publish to a topic encrypted
    // with the AWS-managed SNS key.
    const topicKey = new kms.Key(this, 'AlertKey', {
      description: 'keywarden alert topic',
      enableKeyRotation: true,
    });
    topicKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
    );
    this.topic = new sns.Topic(this, 'Alerts', {
      displayName: 'keywarden',
      masterKey: topicKey,
      enforceSSL: true,
    });
    this.topic.addSubscription(new subscriptions.EmailSubscription(props.securityTeamEmail));

    if (props.reportBucket ?? true) {
      this.bucket = new s3.Bucket(this, 'Reports', {
        encryption: s3.BucketEncryption.S3_MANAGED,
        versioned: true,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        enforceSSL: true,
        removalPolicy: RemovalPolicy.RETAIN,
        lifecycleRules: [
          {
            id: 'expire-old-reports',
            expiration: Duration.days(props.reportRetentionDays ?? 400),
            noncurrentVersionExpiration: Duration.days(30),
            abortIncompleteMultipartUploadAfter: Duration.days(1),
          },
        ],
      });
      Validations.of(this.bucket).acknowledge({
        id: 'AwsSolutions-S1',
        reason:
          'Only keywarden writes here; access is recorded by CloudTrail, and an access-log bucket would need its own.',
      });
    }

    if (props.createSelfServiceGroup ?? true) {
      this.selfServiceGroup = new SelfServiceGroup(this, 'SelfService', {
        groupName,
        ...props.selfService,
      });
    }

    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'keywarden: reads IAM, rotates keys only in enforce mode, alerts the security team',
    });
    const org = props.organization;
    const auditRole = org?.auditRole ?? 'keywarden-audit';
    const rotationRole = org?.rotationRole ?? 'keywarden-rotation';
    const statements = this.statements(rotationMode, logGroup);
    if (org) statements.push(...this.organizationStatements(auditRole, rotationRole, rotationMode));
    if (props.securityHub) {
      statements.push(
        new iam.PolicyStatement({
          sid: 'ImportFindings',
          actions: ['securityhub:BatchImportFindings'],
          resources: [`arn:${this.partition}:securityhub:${this.region}:${this.account}:product/${this.account}/default`],
        }),
      );
    }
    const policy = new iam.Policy(this, 'Permissions', {
      roles: [this.role],
      statements,
    });
    acknowledgeWildcards(policy, this, logGroup, this.bucket);
    if (org) {
      const roles = rotationMode === 'enforce' ? [auditRole, rotationRole] : [auditRole];
      for (const role of roles) {
        Validations.of(policy).acknowledge({
          id: `AwsSolutions-IAM5[Resource::arn:${pseudoOf(this.partition, 'Partition')}:iam::*:role/${role}]`,
          reason: 'Organizations mode: the member role has the same name in every member account, which are not known in advance.',
        });
      }
    }

    const environment: Record<string, string> = {
      ROTATION_MODE: rotationMode,
      TOPIC_ARN: this.topic.topicArn,
      NOTIFY_SCHEDULED: 'true',
      MFA_GROUP: groupName,
      KEYWARDEN_ROLE_ARN: this.role.roleArn,
    };
    if (this.bucket) environment.REPORT_BUCKET = this.bucket.bucketName;
    if (props.securityHub) environment.SECURITY_HUB = 'true';
    if (org) {
      environment.ORGANIZATION = 'true';
      environment.MEMBER_AUDIT_ROLE = auditRole;
      environment.MEMBER_ROTATION_ROLE = rotationRole;
      if (org.externalId) environment.MEMBER_EXTERNAL_ID = org.externalId;
    }
    const fanout = org?.fanout === 'stepfunctions';
    const fanoutConcurrency = org?.fanoutConcurrency ?? DEFAULT_FANOUT_CONCURRENCY;
    if (props.desiredState) environment.DESIRED_STATE = props.desiredState;
    for (const [key, variable] of Object.entries(THRESHOLD_VARIABLES)) {
      const value = props.thresholds?.[key as keyof Thresholds];
      if (value !== undefined) environment[variable] = String(value);
    }

    this.function = new lambda.Function(this, 'Function', {
      description: 'keywarden: IAM compliance audit and access-key rotation',
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: lambda.Architecture.ARM_64,
      handler: 'bootstrap',
      code: lambda.Code.fromAsset(props.functionAssetPath),
      memorySize: FUNCTION_MEMORY_MB,
      // An in-process organization run may use all of Lambda's 15 minutes.
      timeout: org ? Duration.minutes(15) : FUNCTION_TIMEOUT,
      // One run at a time: two rotations of the same user must never race. Fanned out,
      // each invocation is a different account, so the map's concurrency (and the
      // listing's or the aggregation's one) may run at once.
      reservedConcurrentExecutions: fanout ? fanoutConcurrency + 1 : 1,
      role: this.role,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      environment,
    });
    // The role's policy must exist before the function first runs.
    this.function.node.addDependency(policy);

    this.deadLetterQueue = new sqs.Queue(this, 'ScheduleDLQ', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is the dead-letter queue of the schedule; a DLQ of a DLQ would go unread.',
    });

    const delivery = { deadLetterQueue: this.deadLetterQueue, retryAttempts: 2, maxEventAge: Duration.hours(2) };
    if (fanout) {
      if (!this.bucket) throw new Error('the Step Functions fan-out keeps its state in the report bucket: keep reportBucket=true');
      this.fanOut = new FanOut(this, 'FanOut', this.function, fanoutConcurrency);
    }
    new events.Rule(this, 'Schedule', {
      description: 'Runs keywarden',
      schedule: events.Schedule.expression(props.schedule ?? DEFAULT_SCHEDULE),
      targets: [
        this.fanOut
          ? new targets.SfnStateMachine(this.fanOut.stateMachine, delivery)
          : new targets.LambdaFunction(this.function, delivery),
      ],
    });

    const alarmAction = new cwActions.SnsAction(this.topic);
    new cloudwatch.Alarm(this, 'FunctionErrors', {
      alarmDescription: 'keywarden failed: a run ended in an error, so the account went unaudited',
      metric: this.function.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(alarmAction);
    new cloudwatch.Alarm(this, 'ScheduleDeadLetters', {
      alarmDescription: 'A scheduled keywarden run could not be delivered (see the dead-letter queue)',
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5) }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(alarmAction);
    if (this.fanOut) {
      const sm = this.fanOut.stateMachine;
      for (const [name, metric, what] of [
        ['FanOutFailed', sm.metricFailed({ period: Duration.minutes(5), statistic: 'Sum' }), 'failed'],
        ['FanOutTimedOut', sm.metricTimedOut({ period: Duration.minutes(5), statistic: 'Sum' }), 'timed out'],
      ] as const) {
        new cloudwatch.Alarm(this, name, {
          alarmDescription: `An organization run of keywarden ${what}: accounts may have gone unaudited`,
          metric,
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }).addAlarmAction(alarmAction);
      }
    }
  }

  /**
   * Organizations mode: the organization's reads, and AssumeRole on exactly the member role
   * names in any account (the rotation role only in enforce mode).
   */
  private organizationStatements(audit: string, rotation: string, mode: RotationMode): iam.PolicyStatement[] {
    const roles = [`arn:${this.partition}:iam::*:role/${audit}`];
    if (mode === 'enforce') roles.push(`arn:${this.partition}:iam::*:role/${rotation}`);
    return [
      new iam.PolicyStatement({
        sid: 'OrganizationReads',
        actions: [
          'organizations:ListAccounts',
          'organizations:ListParents',
          'organizations:ListTagsForResource',
          'organizations:DescribeOrganization',
        ],
        resources: ['*'],
      }),
      new iam.PolicyStatement({ sid: 'EnterMemberAccounts', actions: ['sts:AssumeRole'], resources: roles }),
    ];
  }

  /**
   * The function's permissions, action by action. IAM's account-wide reads support no
   * resource scoping; everything else names its resource.
   */
  private statements(rotationMode: RotationMode, logGroup: logs.LogGroup): iam.PolicyStatement[] {
    const users = `arn:${this.partition}:iam::${this.account}:user/*`;
    const statements = [
      new iam.PolicyStatement({
        sid: 'AuditAccountReads',
        actions: [
          'iam:GenerateCredentialReport',
          'iam:GetCredentialReport',
          'iam:GetAccountAuthorizationDetails',
          'iam:ListVirtualMFADevices',
          'iam:GetAccountSummary',
          'iam:GetAccountPasswordPolicy',
        ],
        resources: ['*'],
      }),
      new iam.PolicyStatement({
        sid: 'AuditUserReads',
        actions: [
          'iam:GetUser',
          'iam:ListUserTags',
          'iam:ListAccessKeys',
          'iam:GetAccessKeyLastUsed',
          'iam:GetLoginProfile',
        ],
        resources: [users],
      }),
      new iam.PolicyStatement({
        sid: 'AuditPolicyReads',
        actions: ['iam:GetPolicy', 'iam:GetPolicyVersion'],
        resources: [`arn:${this.partition}:iam::aws:policy/*`, `arn:${this.partition}:iam::${this.account}:policy/*`],
      }),
      new iam.PolicyStatement({
        sid: 'StoredKeyReads',
        actions: ['secretsmanager:DescribeSecret'],
        resources: [this.secrets()],
      }),
      new iam.PolicyStatement({
        // One paged listing of keywarden/* per rotation run instead of a DescribeSecret per
        // user; ListSecrets supports no resource scoping (the name filter does the narrowing).
        sid: 'StoredKeyListing',
        actions: ['secretsmanager:ListSecrets'],
        resources: ['*'],
      }),
      new iam.PolicyStatement({
        sid: 'Alerts',
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
      }),
      new iam.PolicyStatement({
        sid: 'AlertEncryption',
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [this.topic.masterKey!.keyArn],
      }),
      new iam.PolicyStatement({
        sid: 'Logs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    ];
    if (this.bucket) {
      statements.push(
        new iam.PolicyStatement({
          sid: 'ReportBucketList',
          // Without it S3 answers a missing latest.json with AccessDenied, not NoSuchKey.
          actions: ['s3:ListBucket'],
          resources: [this.bucket.bucketArn],
        }),
        new iam.PolicyStatement({
          sid: 'ReportObjects',
          actions: ['s3:GetObject', 's3:PutObject'],
          resources: [this.bucket.arnForObjects('*')],
        }),
      );
    }
    if (rotationMode === 'enforce') {
      statements.push(
        new iam.PolicyStatement({
          sid: 'RotateKeys',
          actions: [
            'iam:CreateAccessKey',
            'iam:UpdateAccessKey',
            'iam:DeleteAccessKey',
            'iam:TagUser',
            'iam:UntagUser',
          ],
          resources: [users],
        }),
        new iam.PolicyStatement({
          sid: 'StoreNewKeys',
          actions: [
            'secretsmanager:CreateSecret',
            'secretsmanager:PutSecretValue',
            'secretsmanager:PutResourcePolicy',
            'secretsmanager:TagResource',
          ],
          resources: [this.secrets()],
        }),
      );
    }
    return statements;
  }

  private secrets(): string {
    return `arn:${this.partition}:secretsmanager:${this.region}:${this.account}:secret:keywarden/*`;
  }
}

function validate(props: KeywardenStackProps): void {
  if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(props.securityTeamEmail)) {
    throw new Error(`securityTeamEmail ${JSON.stringify(props.securityTeamEmail)} is not an email address`);
  }
  if (props.rotationMode && !['off', 'dry-run', 'enforce'].includes(props.rotationMode)) {
    throw new Error(`rotationMode must be off, dry-run or enforce, not ${JSON.stringify(props.rotationMode)}`);
  }
  if (props.desiredState !== undefined) {
    try {
      JSON.parse(props.desiredState);
    } catch (e) {
      throw new Error(`desiredState is not JSON: ${(e as Error).message}`);
    }
  }
  if (!fs.existsSync(path.join(props.functionAssetPath, 'bootstrap'))) {
    throw new Error(
      `no bootstrap in ${props.functionAssetPath}: build the function with cargo lambda build --release --arm64`,
    );
  }
}

/** A value as cdk-nag names it: an unresolved pseudo parameter is <AWS::…>. */
export function pseudoOf(value: string, name: string): string {
  return Token.isUnresolved(value) ? `<AWS::${name}>` : value;
}

/** The wildcards the role cannot avoid, each with its reason. */
function acknowledgeWildcards(policy: iam.Policy, stack: Stack, logGroup: logs.LogGroup, bucket?: s3.Bucket): void {
  const logicalId = (c: Construct) => stack.getLogicalId(c.node.defaultChild as CfnElement);
  const ack = (finding: string, reason: string) =>
    Validations.of(policy).acknowledge({ id: `AwsSolutions-IAM5[${finding}]`, reason });
  ack(
    'Resource::*',
    'Credential report, authorization details, virtual MFA devices, account summary and password policy are account-level IAM reads, and secretsmanager:ListSecrets a listing, with no resource-level scoping.',
  );
  // cdk-nag names unresolved pseudo parameters <AWS::…>; known ones appear as themselves.
  const pseudo = (value: string, name: string) => (Token.isUnresolved(value) ? `<AWS::${name}>` : value);
  const [partition, account, region] = [
    pseudo(stack.partition, 'Partition'),
    pseudo(stack.account, 'AccountId'),
    pseudo(stack.region, 'Region'),
  ];
  ack(
    `Resource::arn:${partition}:iam::${account}:user/*`,
    'keywarden audits (and in enforce mode rotates) every IAM user; user ARNs are the narrowest resource.',
  );
  ack(`Resource::arn:${partition}:iam::aws:policy/*`, 'Reads the AWS-managed policies attached to users and groups.');
  ack(
    `Resource::arn:${partition}:iam::${account}:policy/*`,
    "Reads the account's customer-managed policies attached to users and groups.",
  );
  ack(
    `Resource::arn:${partition}:secretsmanager:${region}:${account}:secret:keywarden/*`,
    "Only keywarden's own secrets (one per rotated user, keywarden/<user>); Secrets Manager appends a random suffix to secret ARNs.",
  );
  ack(
    `Resource::<${logicalId(logGroup)}.Arn>`,
    "The function's own log group; its streams are created per execution environment.",
  );
  if (bucket) {
    ack(`Resource::<${logicalId(bucket)}.Arn>/*`, 'Reports are written per run under <account>/<date>/ and latest.json.');
  }
}
