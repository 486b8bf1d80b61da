#!/usr/bin/env python3
"""Creates SageMaker, KMS, S3, SNS and SQS resources on a moto server for the reconcile tests,
and reads SQS messages back. Prints JSON on stdout.

    moto_setup.py --endpoint URL sagemaker            # keys, buckets, jobs, endpoint, notebook
    moto_setup.py --endpoint URL topic                # an SNS topic (KMS-encrypted) + SQS subscriber
    moto_setup.py --endpoint URL receive QUEUE_URL    # every message waiting in the queue

What moto (5.2.1) cannot do, and the tests therefore do not check against it (LOCAL-PARTS.md):
jobs are `Completed` at once with all timestamps equal (zero-length windows at creation time);
a processing job loses `ProcessingResources` (its volume key) and has no start time; key
policies and grants are not enforced. Everything else used here (List*/Describe* paginated,
endpoint → endpoint config → model, notebook instances, KMS aliases and DescribeKey, bucket
default encryption with Bucket Keys, SNS → SQS delivery with message attributes) works.
"""

import argparse
import json
import sys

import boto3

ACCOUNT = "123456789012"  # moto's default account
ROLE_TRAIN = f"arn:aws:iam::{ACCOUNT}:role/service-role/AmazonSageMaker-ExecutionRole-Train"
ROLE_MODEL = f"arn:aws:iam::{ACCOUNT}:role/ml/InferenceRole"
ROLE_NB = f"arn:aws:iam::{ACCOUNT}:role/NotebookRole"


def clients(endpoint):
    kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
              aws_secret_access_key="testing", aws_session_token="testing")
    return {n: boto3.client(n, **kw) for n in ("sagemaker", "kms", "s3", "sns", "sqs")}


def sagemaker(c, jobs):
    kms, s3, sm = c["kms"], c["s3"], c["sagemaker"]
    keys = {}
    for name in ("volume", "output", "endpoint", "capture", "notebook", "data"):
        k = kms.create_key(Description=f"kms-audit test {name}")["KeyMetadata"]
        keys[name] = k["Arn"]
        kms.create_alias(AliasName=f"alias/test-{name}", TargetKeyId=k["KeyId"])
    key_id = lambda n: keys[n].rsplit("/", 1)[1]
    # Buckets: data (SSE-KMS by alias, Bucket Keys on), artifacts (SSE-KMS, no Bucket Keys),
    # capture (SSE-S3).
    for b in ("ml-data", "ml-artifacts", "ml-capture"):
        s3.create_bucket(Bucket=b)
    s3.put_bucket_encryption(Bucket="ml-data", ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/test-data"},
        "BucketKeyEnabled": True}]})
    s3.put_bucket_encryption(Bucket="ml-artifacts", ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": keys["output"]},
        "BucketKeyEnabled": False}]})
    s3.put_bucket_encryption(Bucket="ml-capture", ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})

    created = {"keys": keys, "training": [], "processing": [], "transform": [], "endpoint": [], "notebook": []}
    # Training jobs: volume key by bare key ID, output key by alias (both resolved by DescribeKey).
    for i in range(jobs):
        name = f"train-{i:03d}"
        sm.create_training_job(
            TrainingJobName=name, RoleArn=ROLE_TRAIN,
            AlgorithmSpecification={"TrainingImage": "img", "TrainingInputMode": "File"},
            InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": f"s3://ml-data/{name}/"}}}],
            OutputDataConfig={"S3OutputPath": "s3://ml-artifacts/out/", "KmsKeyId": "alias/test-output"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10,
                            "VolumeKmsKeyId": key_id("volume")},
            StoppingCondition={"MaxRuntimeInSeconds": 3600})
        created["training"].append(name)
    sm.create_processing_job(
        ProcessingJobName="proc-000", RoleArn=ROLE_TRAIN, AppSpecification={"ImageUri": "img"},
        ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                               "VolumeSizeInGB": 10, "VolumeKmsKeyId": keys["volume"]}},
        ProcessingOutputConfig={"KmsKeyId": keys["output"], "Outputs": [{"OutputName": "o", "S3Output": {
            "S3Uri": "s3://ml-artifacts/proc/", "LocalPath": "/opt/ml/processing/o", "S3UploadMode": "EndOfJob"}}]},
        StoppingCondition={"MaxRuntimeInSeconds": 600})
    created["processing"].append("proc-000")
    sm.create_model(ModelName="model-a", ExecutionRoleArn=ROLE_MODEL,
                    PrimaryContainer={"Image": "img", "ModelDataUrl": "s3://ml-artifacts/out/model.tar.gz"})
    sm.create_transform_job(
        TransformJobName="batch-000", ModelName="model-a",
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://ml-data/batch/"}}},
        TransformOutput={"S3OutputPath": "s3://ml-artifacts/batch/", "KmsKeyId": keys["output"]},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeKmsKeyId": keys["volume"]})
    created["transform"].append("batch-000")
    sm.create_endpoint_config(
        EndpointConfigName="cfg-a", KmsKeyId="alias/test-endpoint",
        ProductionVariants=[{"VariantName": "v", "ModelName": "model-a", "InitialInstanceCount": 1,
                             "InstanceType": "ml.m5.large"}],
        DataCaptureConfig={"EnableCapture": True, "InitialSamplingPercentage": 10,
                           "DestinationS3Uri": "s3://ml-capture/ep/", "KmsKeyId": keys["capture"],
                           "CaptureOptions": [{"CaptureMode": "Input"}]})
    sm.create_endpoint(EndpointName="ep-a", EndpointConfigName="cfg-a")
    created["endpoint"].append("ep-a")
    # A transform job whose model is then deleted: its role is unknown, it must be reported as skipped.
    sm.create_model(ModelName="model-gone", ExecutionRoleArn=ROLE_MODEL, PrimaryContainer={"Image": "img"})
    sm.create_transform_job(
        TransformJobName="batch-orphan", ModelName="model-gone",
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://ml-data/b2/"}}},
        TransformOutput={"S3OutputPath": "s3://ml-artifacts/b2/"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
    sm.delete_model(ModelName="model-gone")
    sm.create_notebook_instance(NotebookInstanceName="nb-a", InstanceType="ml.t3.medium", RoleArn=ROLE_NB,
                                KmsKeyId=key_id("notebook"))
    created["notebook"].append("nb-a")
    created["roles"] = {"train": ROLE_TRAIN, "model": ROLE_MODEL, "notebook": ROLE_NB}
    created["account"] = ACCOUNT
    return created


def topic(c):
    key = c["kms"].create_key(Description="findings topic")["KeyMetadata"]["Arn"]
    arn = c["sns"].create_topic(Name="kms-audit-findings", Attributes={"KmsMasterKeyId": key})["TopicArn"]
    q = c["sqs"].create_queue(QueueName="findings-subscriber")["QueueUrl"]
    qarn = c["sqs"].get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    c["sns"].subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn)
    return {"topic_arn": arn, "queue_url": q}


def receive(c, queue_url):
    out = []
    while True:
        r = c["sqs"].receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        msgs = r.get("Messages", [])
        if not msgs:
            return out
        for m in msgs:
            out.append(json.loads(m["Body"]))  # the SNS envelope (Subject, Message, MessageAttributes)
            c["sqs"].delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--jobs", type=int, default=3)
    ap.add_argument("what", choices=["sagemaker", "topic", "receive"])
    ap.add_argument("queue_url", nargs="?")
    a = ap.parse_args()
    c = clients(a.endpoint)
    if a.what == "sagemaker":
        out = sagemaker(c, a.jobs)
    elif a.what == "topic":
        out = topic(c)
    else:
        out = receive(c, a.queue_url)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
