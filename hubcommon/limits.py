"""AWS service limits the hub designs around: one home for each number.

Each constant links the AWS page that states it, so a change in a limit is a
one-line change here.
"""

from typing import Final

# https://docs.aws.amazon.com/sns/latest/api/API_PublishBatch.html
# "The maximum number of entries in a single PublishBatch call is 10."
SNS_PUBLISH_BATCH_MAX_ENTRIES: Final = 10

# https://docs.aws.amazon.com/general/latest/gr/sns.html (message size quota) and
# https://docs.aws.amazon.com/sns/latest/api/API_PublishBatch.html
# A message, and the aggregate of all messages in one PublishBatch call, may be
# at most 256 KiB: body plus message attribute names, types and values.
SNS_DEFAULT_MAX_MESSAGE_BYTES: Final = 262_144

# https://docs.aws.amazon.com/sns/latest/dg/large-message-payloads.html
# Raising the topic's MaximumMessageSize attribute (1,024 to 1,048,576) allows messages
# up to 1 MiB; such a topic takes at most 100 subscriptions (SQS, Lambda, Firehose).
SNS_MAX_MESSAGE_BYTES_CEILING: Final = 1_048_576
SNS_MIN_MESSAGE_BYTES: Final = 1_024

# https://docs.aws.amazon.com/sns/latest/dg/sns-message-attributes.html
# Subscription filter policies and raw delivery to SQS honour at most 10 attributes.
SNS_MAX_MESSAGE_ATTRIBUTES: Final = 10

# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html
# Queues can accept up to 1 MiB, but a queue's MaximumMessageSize may be set lower;
# messages the hub writes to its own queues (DLQs) stay within the long-standing 256 KiB.
SQS_MAX_MESSAGE_BYTES: Final = 262_144
SQS_SEND_BATCH_MAX_ENTRIES: Final = 10

# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html
# "A message can contain up to 10 metadata attributes."
SQS_MAX_MESSAGE_ATTRIBUTES: Final = 10

# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html
# A queue keeps a message at most 14 days (MessageRetentionPeriod up to 1,209,600 seconds).
SQS_MAX_RETENTION_SECONDS: Final = 14 * 24 * 3600

# https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html
# A function runs for at most 900 seconds (15 minutes).
LAMBDA_MAX_TIMEOUT_SECONDS: Final = 900

# https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
# EMF: "a metric value may be an array of up to 100 values".
CLOUDWATCH_EMF_MAX_VALUES_PER_METRIC: Final = 100

# https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_StreamRecord.html
# The SequenceNumber length constraints: 21 to 40 characters.
DYNAMODB_SEQUENCE_NUMBER_MAX_DIGITS: Final = 40

# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html
DYNAMODB_MAX_ITEM_BYTES: Final = 409_600
# A partition key value may be at most 2048 bytes (same page, "Partition key value").
DYNAMODB_MAX_PARTITION_KEY_BYTES: Final = 2048

# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html
# A table name is 3 to 255 characters long.
DYNAMODB_TABLE_NAME_MIN_CHARS: Final = 3
DYNAMODB_TABLE_NAME_MAX_CHARS: Final = 255

# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/time-to-live-ttl-streams.html
# A REMOVE made by TTL carries this principal in the record's userIdentity.
DYNAMODB_TTL_PRINCIPAL: Final = "dynamodb.amazonaws.com"
DYNAMODB_TTL_IDENTITY_TYPE: Final = "Service"

# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
# A general purpose bucket name: 3 to 63 characters, lower-case letters, digits,
# dots and hyphens, starting and ending with a letter or digit. Unanchored, so
# it composes into larger patterns (``s3://<bucket>/<key>``).
S3_BUCKET_NAME_PATTERN: Final = r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]"

# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html#HowItWorks.DataTypes.Number
# A number has up to 38 digits of precision; its magnitude is 1E-130 to
# 9.9999999999999999999999999999999999999E+125 (positive or negative), or zero.
DYNAMODB_NUMBER_MAX_DIGITS: Final = 38
DYNAMODB_NUMBER_MIN_EXPONENT: Final = -130  # the adjusted exponent of 1E-130
DYNAMODB_NUMBER_MAX_EXPONENT: Final = 125  # the adjusted exponent of 9.99...E+125

# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html
# A message body may hold only these characters (XML 1.0's Char production); SQS
# refuses any other with InvalidMessageContents. SNS holds its message attribute
# values to the same rule as the body
# (https://docs.aws.amazon.com/sns/latest/api/API_MessageAttributeValue.html) and
# delivers to SQS. A regular expression character class, for ``re``.
SQS_MESSAGE_CHARACTERS: Final = "\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff"
